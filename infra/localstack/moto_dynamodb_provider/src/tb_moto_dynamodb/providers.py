"""LocalStack service providers that hand every DynamoDB call to moto.

LocalStack's own DynamoDB provider forwards requests to DynamoDB Local, which it
downloads (with a Java runtime) on first use. Neither can be fetched on our
machines, so these providers implement no operation at all: every handler of the
generated API class raises ``NotImplementedError`` and ``MotoFallbackDispatcher``
turns that into a call to the moto backend that LocalStack bundles. This is the
same pattern ``localstack/services/providers.py`` uses for its moto-backed
services (acm, iam, sts, ...).

moto's backend is not thread-safe: LocalStack serves requests on several threads,
and concurrent TransactWriteItems calls fail inside moto ("dictionary changed size
during iteration") or, worse, both pass their conditions. DynamoDB itself makes
single-item writes atomic and transactions serializable, so every DynamoDB call is
run under one lock here. moto holds the GIL while it works anyway, so the lock
costs little throughput.

moto's ``Table.query`` also sorts every item of the table (all partitions) to find
one partition's items, so each Query costs O(table) where DynamoDB's costs
O(result). With tens of thousands of items from other tenants and tests in one
table, that made every Query of the bridge (and of its benchmark floors) tens of
milliseconds. ``_partition_queries`` hands moto only the queried partition for
base-table queries; index queries and every other operation are unchanged.

Select with ``PROVIDER_OVERRIDE_DYNAMODB=moto`` (and, if the service is enabled,
``PROVIDER_OVERRIDE_DYNAMODBSTREAMS=moto``).
"""

import inspect
import threading

from localstack.aws.api.dynamodb import DynamodbApi
from localstack.aws.api.dynamodbstreams import DynamodbstreamsApi
from localstack.services.plugins import Service, aws_provider


class MotoDynamoDBProvider(DynamodbApi):
    """Implements nothing: every operation falls through to moto."""


class MotoDynamoDBStreamsProvider(DynamodbstreamsApi):
    """Implements nothing: every operation falls through to moto."""


_DYNAMODB_LOCK = threading.Lock()


def _serialized(handler):
    def _call(context, request):
        with _DYNAMODB_LOCK:
            return handler(context, request)

    return _call


def _serialized_moto_dispatcher(provider):
    from localstack.services.moto import MotoFallbackDispatcher

    table = MotoFallbackDispatcher(provider)
    for op, fn in list(table.items()):
        table[op] = _serialized(fn)
    return table


def _partition_queries():
    from moto.dynamodb.models.table import Table

    original = Table.query
    if getattr(original, "_tb_partition_query", False):
        return
    signature = inspect.signature(original)

    def query(self, *args, **kwargs):
        bound = signature.bind(self, *args, **kwargs)
        if bound.arguments.get("index_name") or not self.range_key_attr:
            return original(self, *args, **kwargs)
        # Same items moto's filter would keep (it then sorts them by range key itself).
        partition = list(self.items.get(bound.arguments["hash_key"], {}).values())
        # Safe to shadow per call: every DynamoDB call runs under _DYNAMODB_LOCK.
        self.all_items = lambda: partition
        try:
            return original(self, *args, **kwargs)
        finally:
            del self.all_items

    query._tb_partition_query = True
    Table.query = query


@aws_provider(api="dynamodb", name="moto")
def dynamodb_moto():
    _partition_queries()
    provider = MotoDynamoDBProvider()
    return Service.for_provider(provider, dispatch_table_factory=_serialized_moto_dispatcher)


@aws_provider(api="dynamodbstreams", name="moto")
def dynamodbstreams_moto():
    from localstack.services.moto import MotoFallbackDispatcher

    provider = MotoDynamoDBStreamsProvider()
    return Service.for_provider(provider, dispatch_table_factory=MotoFallbackDispatcher)
