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

moto's ``transact_write_items`` deep-copies every table before it starts, to roll back on a
failure: on a shared table of a few hundred MB that is seconds per transaction, during which the
lock above holds every other DynamoDB call. ``_lean_transactions`` keeps moto's semantics (all
conditions, unicity, all-or-nothing) but backs up only the items the transaction touches.

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


def _lean_transactions():
    import copy

    import moto.dynamodb.models as models

    backend = models.DynamoDBBackend
    if getattr(backend.transact_write_items, "_tb_lean", False):
        return

    def transact_write_items(self, transact_items):
        if len(transact_items) > 100:
            raise models.TooManyTransactionsException()
        # (table, key, the item before the transaction or None): restored in reverse on a failure.
        backups = []
        seen = set()
        errors = []

        def rollback():
            for table_name, key, before in reversed(backups):
                if before is None:
                    self.delete_item(table_name, key)
                else:
                    self.put_item(table_name, before)

        for item in transact_items:
            original_item = None
            if len(list(item.keys())) > 1:
                raise models.TransactWriteSingleOpException
            try:
                op_type, op = next(iter(item.items()))
                if op_type not in {"ConditionCheck", "Put", "Delete", "Update"}:
                    raise ValueError("Unsupported transaction operation")
                table_name = op["TableName"]
                condition_expression = op.get("ConditionExpression")
                names = op.get("ExpressionAttributeNames")
                values = op.get("ExpressionAttributeValues")
                if op_type == "Put":
                    attrs = op["Item"]
                    table = self.get_table(table_name)
                    key = {table.hash_key_attr: attrs[table.hash_key_attr]}
                    if table.range_key_attr is not None:
                        key[table.range_key_attr] = attrs[table.range_key_attr]
                else:
                    key = op["Key"]
                marker = (str(table_name), str(key))
                if marker in seen:
                    raise models.MultipleTransactionsException()
                seen.add(marker)
                current = self.get_item(table_name, key)
                if condition_expression is not None:
                    condition = models.get_filter_expression(condition_expression, names, values)
                    if not condition.expr(current):
                        if op.get("ReturnValuesOnConditionCheckFailure") == "ALL_OLD" and current:
                            original_item = current.to_json()["Attributes"]
                        raise models.ConditionalCheckFailed(item=original_item)
                if op_type != "ConditionCheck":
                    before = copy.deepcopy(current.to_json()["Attributes"]) if current else None
                    backups.append((table_name, key, before))
                if op_type == "Put":
                    self.put_item(
                        table_name,
                        op["Item"],
                        condition_expression=condition_expression,
                        expression_attribute_names=names,
                        expression_attribute_values=values,
                    )
                elif op_type == "Delete":
                    self.delete_item(
                        table_name,
                        key,
                        condition_expression=condition_expression,
                        expression_attribute_names=names,
                        expression_attribute_values=values,
                    )
                elif op_type == "Update":
                    self.update_item(
                        table_name,
                        key,
                        update_expression=op["UpdateExpression"],
                        condition_expression=condition_expression,
                        expression_attribute_names=names,
                        expression_attribute_values=values,
                    )
                errors.append((None, None, None))
            except (models.MultipleTransactionsException, models.MockValidationException):
                rollback()
                raise
            except models.ConditionalCheckFailed as e:
                errors.append(("ConditionalCheckFailed", str(e.message), original_item))
            except Exception as e:  # noqa: BLE001 - moto reports every other failure per item too
                errors.append((type(e).__name__, str(e), original_item))
        if any(code is not None for code, _, _ in errors):
            rollback()
            raise models.TransactionCanceledException(errors)

    transact_write_items._tb_lean = True
    backend.transact_write_items = transact_write_items


@aws_provider(api="dynamodb", name="moto")
def dynamodb_moto():
    _partition_queries()
    _lean_transactions()
    provider = MotoDynamoDBProvider()
    return Service.for_provider(provider, dispatch_table_factory=_serialized_moto_dispatcher)


@aws_provider(api="dynamodbstreams", name="moto")
def dynamodbstreams_moto():
    from localstack.services.moto import MotoFallbackDispatcher

    provider = MotoDynamoDBStreamsProvider()
    return Service.for_provider(provider, dispatch_table_factory=MotoFallbackDispatcher)
