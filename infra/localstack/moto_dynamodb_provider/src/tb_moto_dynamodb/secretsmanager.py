"""LocalStack's Secrets Manager provider, with the staging-label move made atomic as in AWS.

The bridge writes a tenant's secret bundle compare-and-swap: a new version with a private label,
then ``UpdateSecretVersionStage(AWSCURRENT, MoveToVersionId=new, RemoveFromVersionId=read)``, which
AWS refuses when AWSCURRENT is no longer on the version read. Stock LocalStack 4.8.1 (moto) checks
that, but:

- moto takes the label off ``RemoveFromVersionId`` *before* it checks that ``MoveToVersionId``
  exists. LocalStack deletes a version as soon as it has no label, so a pending version whose label
  a concurrent ``PutSecretValue`` took is gone, and the move then fails half-way: the secret is left
  with no AWSCURRENT label and every later compare-and-swap fails forever. AWS validates first and
  changes nothing on a refused call.
- moto does not refuse moving a label that another version holds when ``RemoveFromVersionId`` is
  missing (it does so only for AWSCURRENT); AWS refuses it for every label.
- moto's backend is not thread-safe and LocalStack serves requests on several threads, so two moves
  could both pass the check. AWS serialises changes to one secret.

Here every Secrets Manager call runs under one lock, and the move is validated before anything
changes. Select with ``PROVIDER_OVERRIDE_SECRETSMANAGER=tb`` (``infra/localstack.sh`` does).
"""

import threading

from localstack.services.plugins import Service, aws_provider

_SECRETSMANAGER_LOCK = threading.Lock()


def _serialized(handler):
    def _call(context, request):
        with _SECRETSMANAGER_LOCK:
            return handler(context, request)

    return _call


def _serialized_dispatcher(provider):
    from localstack.services.moto import MotoFallbackDispatcher

    table = MotoFallbackDispatcher(provider)
    for op, fn in list(table.items()):
        table[op] = _serialized(fn)
    return table


def _validate_before_moving():
    from moto.secretsmanager.exceptions import InvalidParameterException
    from moto.secretsmanager.models import SecretsManagerBackend

    original = SecretsManagerBackend.update_secret_version_stage
    if getattr(original, "_tb_validated", False):
        return

    def update_secret_version_stage(self, secret_id, version_stage, remove_from_version_id, move_to_version_id):
        secret = self.secrets.get(secret_id) if hasattr(self.secrets, "get") else None
        if secret is not None and hasattr(secret, "versions"):
            versions = secret.versions
            if remove_from_version_id:
                held = versions.get(remove_from_version_id, {}).get("version_stages", [])
                if version_stage not in held:
                    raise InvalidParameterException(
                        f"Version stage {version_stage} not found in version {remove_from_version_id}"
                    )
            if move_to_version_id:
                if move_to_version_id not in versions:
                    raise InvalidParameterException(f"Not a valid version: {move_to_version_id}")
                holders = [v for v, d in versions.items() if version_stage in d["version_stages"]]
                elsewhere = [v for v in holders if v != move_to_version_id]
                if elsewhere and not remove_from_version_id:
                    raise InvalidParameterException(
                        f"The parameter RemoveFromVersionId can't be empty. Staging label {version_stage} "
                        f"is currently attached to version {elsewhere[0]}, so you must explicitly reference "
                        "that version in RemoveFromVersionId."
                    )
        return original(self, secret_id, version_stage, remove_from_version_id, move_to_version_id)

    update_secret_version_stage._tb_validated = True
    SecretsManagerBackend.update_secret_version_stage = update_secret_version_stage


@aws_provider(api="secretsmanager", name="tb")
def secretsmanager_tb():
    from localstack.services.secretsmanager.provider import SecretsmanagerProvider

    # LocalStack's provider patches moto when it is built; the validation wraps those patches.
    provider = SecretsmanagerProvider()
    _validate_before_moving()
    return Service.for_provider(provider, dispatch_table_factory=_serialized_dispatcher)
