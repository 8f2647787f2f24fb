"""LocalStack service providers that hand every DynamoDB call to moto.

LocalStack's own DynamoDB provider forwards requests to DynamoDB Local, which it
downloads (with a Java runtime) on first use. Neither can be fetched on our
machines, so these providers implement no operation at all: every handler of the
generated API class raises ``NotImplementedError`` and ``MotoFallbackDispatcher``
turns that into a call to the moto backend that LocalStack bundles. This is the
same pattern ``localstack/services/providers.py`` uses for its moto-backed
services (acm, iam, sts, ...).

Select with ``PROVIDER_OVERRIDE_DYNAMODB=moto`` (and, if the service is enabled,
``PROVIDER_OVERRIDE_DYNAMODBSTREAMS=moto``).
"""

from localstack.aws.api.dynamodb import DynamodbApi
from localstack.aws.api.dynamodbstreams import DynamodbstreamsApi
from localstack.services.plugins import Service, aws_provider


class MotoDynamoDBProvider(DynamodbApi):
    """Implements nothing: every operation falls through to moto."""


class MotoDynamoDBStreamsProvider(DynamodbstreamsApi):
    """Implements nothing: every operation falls through to moto."""


@aws_provider(api="dynamodb", name="moto")
def dynamodb_moto():
    from localstack.services.moto import MotoFallbackDispatcher

    provider = MotoDynamoDBProvider()
    return Service.for_provider(provider, dispatch_table_factory=MotoFallbackDispatcher)


@aws_provider(api="dynamodbstreams", name="moto")
def dynamodbstreams_moto():
    from localstack.services.moto import MotoFallbackDispatcher

    provider = MotoDynamoDBStreamsProvider()
    return Service.for_provider(provider, dispatch_table_factory=MotoFallbackDispatcher)
