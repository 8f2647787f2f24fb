#!/usr/bin/env python3
"""Readiness probe and smoke test for the local LocalStack (run with the LocalStack venv's python).

    smoke.py --health-only               GET /_localstack/health once; exit 0 if every service is up
    smoke.py --wait 90 --pid P --quick   poll health (stop early if pid P dies), then one call per service
    smoke.py                             full check of what the project uses (DynamoDB, SQS, Secrets
                                         Manager, EventBridge); prints 'smoke: N passed, M failed'

Normally driven by infra/localstack.sh (start / status / smoke). Only boto3 from the venv is needed.
Everything it creates has a random 'tb-smoke-' name and is deleted again.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import traceback
import urllib.error
import urllib.request
import uuid

DEFAULT_SERVICES = "dynamodb,sqs,secretsmanager,events,sts"
OK_STATES = {"available", "running"}


# ---------------------------------------------------------------------------------------------
# health
# ---------------------------------------------------------------------------------------------
def health(endpoint: str, services: list[str]) -> tuple[bool, str]:
    try:
        with urllib.request.urlopen(f"{endpoint}/_localstack/health", timeout=3) as resp:
            body = json.load(resp)
    except (urllib.error.URLError, OSError, ValueError) as e:
        return False, f"no answer ({e.__class__.__name__})"
    states = body.get("services", {})
    bad = {s: states.get(s, "missing") for s in services if states.get(s) not in OK_STATES}
    if bad:
        return False, f"services not ready: {bad}"
    return True, f"LocalStack {body.get('version', '?')} ({body.get('edition', '?')})"


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # a zombie (exited, not yet reaped) counts as dead
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(")")[-1].split()[0] != "Z"
    except OSError:
        return False


def wait_healthy(endpoint: str, services: list[str], timeout: float, pid: int | None) -> bool:
    deadline = time.monotonic() + timeout
    msg = ""
    while time.monotonic() < deadline:
        if pid is not None and not pid_alive(pid):
            print(f"smoke: LocalStack process {pid} exited", file=sys.stderr)
            return False
        ok, msg = health(endpoint, services)
        if ok:
            return True
        time.sleep(0.25)
    print(f"smoke: not healthy after {timeout:.0f} s: {msg}", file=sys.stderr)
    return False


# ---------------------------------------------------------------------------------------------
# clients
# ---------------------------------------------------------------------------------------------
def clients(endpoint: str):
    import boto3
    from botocore.config import Config

    session = boto3.session.Session(
        aws_access_key_id="test", aws_secret_access_key="test", region_name="us-east-1"
    )
    cfg = Config(
        retries={"max_attempts": 2, "mode": "standard"}, connect_timeout=5, read_timeout=40
    )

    def c(name):
        return session.client(name, endpoint_url=endpoint, config=cfg)

    return c


def quick(endpoint: str) -> bool:
    """One cheap real call per service; loads each provider (so a broken plugin shows up now)."""
    c = clients(endpoint)
    calls = [
        ("sts", lambda: c("sts").get_caller_identity()["Account"]),
        ("dynamodb", lambda: c("dynamodb").list_tables()["TableNames"]),
        ("sqs", lambda: c("sqs").list_queues()),
        ("secretsmanager", lambda: c("secretsmanager").list_secrets()["SecretList"]),
        ("events", lambda: c("events").list_rules()["Rules"]),
    ]
    ok = True
    for name, fn in calls:
        try:
            fn()
        except Exception as e:  # noqa: BLE001
            ok = False
            print(f"smoke: {name} call failed: {e}", file=sys.stderr)
    return ok


# ---------------------------------------------------------------------------------------------
# full smoke test
# ---------------------------------------------------------------------------------------------
class Checks:
    def __init__(self) -> None:
        self.passed = 0
        self.failed = 0

    def check(self, name: str, cond: bool, detail: object = "") -> None:
        if cond:
            self.passed += 1
            print(f"  ok   {name}")
        else:
            self.failed += 1
            print(f"  FAIL {name} {detail}")

    def section(self, name: str, fn) -> None:
        print(f"{name}:")
        t = time.monotonic()
        try:
            fn(self)
        except Exception:  # noqa: BLE001
            self.failed += 1
            print(f"  FAIL {name} raised:\n" + traceback.format_exc())
        print(f"  ({time.monotonic() - t:.2f} s)")


def error_code(exc: Exception) -> str:
    return getattr(exc, "response", {}).get("Error", {}).get("Code", exc.__class__.__name__)


def run_full(endpoint: str) -> int:
    c = clients(endpoint)
    tag = uuid.uuid4().hex[:8]
    ddb, sqs, sm, ev = c("dynamodb"), c("sqs"), c("secretsmanager"), c("events")
    checks = Checks()
    shared: dict = {}

    # ---- DynamoDB --------------------------------------------------------------------------
    def dynamodb(ck: Checks) -> None:
        table = f"tb-smoke-{tag}"
        shared["table"] = table
        ddb.create_table(
            TableName=table,
            BillingMode="PAY_PER_REQUEST",
            AttributeDefinitions=[
                {"AttributeName": n, "AttributeType": "S"} for n in ("pk", "sk", "gsi1pk", "gsi1sk")
            ],
            KeySchema=[
                {"AttributeName": "pk", "KeyType": "HASH"},
                {"AttributeName": "sk", "KeyType": "RANGE"},
            ],
            GlobalSecondaryIndexes=[
                {
                    "IndexName": "gsi1",
                    "KeySchema": [
                        {"AttributeName": "gsi1pk", "KeyType": "HASH"},
                        {"AttributeName": "gsi1sk", "KeyType": "RANGE"},
                    ],
                    "Projection": {"ProjectionType": "ALL"},
                }
            ],
        )
        ddb.get_waiter("table_exists").wait(
            TableName=table, WaiterConfig={"Delay": 1, "MaxAttempts": 30}
        )
        desc = ddb.describe_table(TableName=table)["Table"]
        ck.check("create table ACTIVE", desc["TableStatus"] == "ACTIVE", desc["TableStatus"])
        ck.check(
            "GSI present",
            [g["IndexName"] for g in desc.get("GlobalSecondaryIndexes", [])] == ["gsi1"],
        )
        ddb.update_time_to_live(
            TableName=table,
            TimeToLiveSpecification={"Enabled": True, "AttributeName": "expires_at"},
        )
        ttl = ddb.describe_time_to_live(TableName=table)["TimeToLiveDescription"]
        ck.check(
            "TTL enabled",
            ttl.get("TimeToLiveStatus") in ("ENABLED", "ENABLING")
            and ttl.get("AttributeName") == "expires_at",
            ttl,
        )

        item = {
            "pk": {"S": "user#1"},
            "sk": {"S": "profile"},
            "name": {"S": "first"},
            "expires_at": {"N": str(int(time.time()) + 3600)},
        }
        ddb.put_item(TableName=table, Item=item, ConditionExpression="attribute_not_exists(pk)")
        try:
            ddb.put_item(
                TableName=table, Item=item, ConditionExpression="attribute_not_exists(pk)"
            )
            ck.check("conditional put rejected on existing item", False, "no error")
        except Exception as e:  # noqa: BLE001
            ck.check(
                "conditional put rejected on existing item",
                error_code(e) == "ConditionalCheckFailedException",
                error_code(e),
            )

        ddb.transact_write_items(
            TransactItems=[
                {"Put": {"TableName": table, "Item": {"pk": {"S": "user#2"}, "sk": {"S": "profile"}},
                         "ConditionExpression": "attribute_not_exists(pk)"}},
                {"Update": {"TableName": table, "Key": {"pk": {"S": "user#1"}, "sk": {"S": "profile"}},
                            "UpdateExpression": "SET #n = :n",
                            "ExpressionAttributeNames": {"#n": "name"},
                            "ExpressionAttributeValues": {":n": {"S": "second"}}}},
            ]
        )
        got = ddb.get_item(TableName=table, Key={"pk": {"S": "user#1"}, "sk": {"S": "profile"}},
                           ConsistentRead=True)
        ck.check("TransactWriteItems applied", got["Item"]["name"]["S"] == "second", got)

        try:
            ddb.transact_write_items(
                TransactItems=[
                    {"Put": {"TableName": table,
                             "Item": {"pk": {"S": "user#3"}, "sk": {"S": "profile"}}}},
                    {"Put": {"TableName": table,
                             "Item": {"pk": {"S": "user#2"}, "sk": {"S": "profile"}},
                             "ConditionExpression": "attribute_not_exists(pk)"}},
                ]
            )
            ck.check("cancelled transaction raises", False, "no error")
        except Exception as e:  # noqa: BLE001
            reasons = getattr(e, "response", {}).get("CancellationReasons", [])
            ck.check("cancelled transaction raises TransactionCanceledException",
                     error_code(e) == "TransactionCanceledException", error_code(e))
            codes = [r.get("Code") for r in reasons]
            ck.check("CancellationReasons present",
                     codes == ["None", "ConditionalCheckFailed"], reasons)
        none = ddb.get_item(TableName=table, Key={"pk": {"S": "user#3"}, "sk": {"S": "profile"}},
                            ConsistentRead=True)
        ck.check("cancelled transaction wrote nothing", "Item" not in none)

        requests = {table: [
            {"PutRequest": {"Item": {
                "pk": {"S": f"order#{i:02d}"}, "sk": {"S": "meta"},
                "gsi1pk": {"S": "orders"}, "gsi1sk": {"S": f"{i:02d}"},
            }}} for i in range(25)
        ]}
        for _ in range(10):
            out = ddb.batch_write_item(RequestItems=requests)
            requests = out.get("UnprocessedItems") or {}
            if not requests:
                break
        ck.check("BatchWriteItem 25 items", not requests, requests)

        q = ddb.query(TableName=table, IndexName="gsi1",
                      KeyConditionExpression="gsi1pk = :p AND begins_with(gsi1sk, :s)",
                      ExpressionAttributeValues={":p": {"S": "orders"}, ":s": {"S": "1"}})
        ck.check("Query on GSI", q["Count"] == 10
                 and [i["gsi1sk"]["S"] for i in q["Items"]] == [f"{i}" for i in range(10, 20)],
                 q["Count"])

        pages, total, kwargs = 0, 0, {"TableName": table, "Limit": 10}
        while True:
            page = ddb.scan(**kwargs)
            pages += 1
            total += page["Count"]
            if "LastEvaluatedKey" not in page or pages > 20:
                break
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]
        ck.check("Scan paging (Limit 10)", total == 27 and pages >= 3, (total, pages))

    # ---- SQS -------------------------------------------------------------------------------
    def sqs_checks(ck: Checks) -> None:
        dlq = sqs.create_queue(QueueName=f"tb-smoke-{tag}-dlq")["QueueUrl"]
        shared["queues"] = [dlq]
        dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq, AttributeNames=["QueueArn"])[
            "Attributes"]["QueueArn"]
        redrive = json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": "5"})
        q = sqs.create_queue(QueueName=f"tb-smoke-{tag}",
                             Attributes={"RedrivePolicy": redrive, "VisibilityTimeout": "30"})["QueueUrl"]
        shared["queues"].append(q)
        shared["queue_arn"] = sqs.get_queue_attributes(QueueUrl=q, AttributeNames=["QueueArn"])[
            "Attributes"]["QueueArn"]
        attrs = sqs.get_queue_attributes(QueueUrl=q, AttributeNames=["All"])["Attributes"]
        rp = json.loads(attrs.get("RedrivePolicy", "{}"))
        ck.check("queue with DLQ redrive policy",
                 rp.get("deadLetterTargetArn") == dlq_arn and int(rp.get("maxReceiveCount", 0)) == 5,
                 rp)
        ck.check("queue URL is on the endpoint", q.startswith(endpoint), q)

        out = sqs.send_message_batch(QueueUrl=q, Entries=[
            {"Id": str(i), "MessageBody": json.dumps({"n": i})} for i in range(10)])
        ck.check("SendMessageBatch 10", len(out.get("Successful", [])) == 10
                 and not out.get("Failed"), out.get("Failed"))

        got = []
        deadline = time.monotonic() + 15
        while len(got) < 10 and time.monotonic() < deadline:
            r = sqs.receive_message(QueueUrl=q, MaxNumberOfMessages=10, WaitTimeSeconds=2,
                                    AttributeNames=["ApproximateReceiveCount"])
            got += r.get("Messages", [])
        ck.check("ReceiveMessage long-poll got all 10", len(got) == 10, len(got))

        first = got[0]
        sqs.change_message_visibility(QueueUrl=q, ReceiptHandle=first["ReceiptHandle"],
                                      VisibilityTimeout=0)
        r = sqs.receive_message(QueueUrl=q, MaxNumberOfMessages=1, WaitTimeSeconds=5,
                                AttributeNames=["ApproximateReceiveCount"])
        again = r.get("Messages", [])
        ck.check("ChangeMessageVisibility(0) makes it visible again",
                 len(again) == 1 and again[0]["MessageId"] == first["MessageId"]
                 and again[0]["Attributes"]["ApproximateReceiveCount"] == "2", again)

        handles = [m["ReceiptHandle"] for m in got[1:]] + [m["ReceiptHandle"] for m in again]
        for h in handles:
            sqs.delete_message(QueueUrl=q, ReceiptHandle=h)
        t = time.monotonic()
        r = sqs.receive_message(QueueUrl=q, MaxNumberOfMessages=10, WaitTimeSeconds=1)
        waited = time.monotonic() - t
        ck.check("DeleteMessage: queue empty (long poll waited ~1 s)",
                 not r.get("Messages") and waited >= 0.8, (r.get("Messages"), round(waited, 2)))

    # ---- Secrets Manager ---------------------------------------------------------------------
    def secrets(ck: Checks) -> None:
        name = f"tb-smoke/{tag}"
        sm.create_secret(Name=name, SecretString=json.dumps({"token": "one"}))
        v = sm.get_secret_value(SecretId=name)
        ck.check("CreateSecret/GetSecretValue", json.loads(v["SecretString"]) == {"token": "one"})
        sm.put_secret_value(SecretId=name, SecretString=json.dumps({"token": "two"}))
        v2 = sm.get_secret_value(SecretId=name)
        ck.check("PutSecretValue -> new AWSCURRENT",
                 json.loads(v2["SecretString"]) == {"token": "two"}
                 and v2["VersionId"] != v["VersionId"] and "AWSCURRENT" in v2["VersionStages"])
        sm.delete_secret(SecretId=name, ForceDeleteWithoutRecovery=True)
        try:
            sm.get_secret_value(SecretId=name)
            ck.check("DeleteSecret(ForceDeleteWithoutRecovery)", False, "still readable")
        except Exception as e:  # noqa: BLE001
            ck.check("DeleteSecret(ForceDeleteWithoutRecovery)",
                     error_code(e) == "ResourceNotFoundException", error_code(e))

    # ---- EventBridge ---------------------------------------------------------------------------
    def events(ck: Checks) -> None:
        rule = f"tb-smoke-{tag}"
        shared["rule"] = rule
        arn = ev.put_rule(Name=rule, ScheduleExpression="rate(1 minute)", State="ENABLED")["RuleArn"]
        ck.check("PutRule rate(1 minute)", arn.endswith(f"rule/{rule}"), arn)
        target = shared.get("queue_arn")
        if target is None:  # SQS section failed: make a queue of our own
            q = sqs.create_queue(QueueName=f"tb-smoke-{tag}-ev")["QueueUrl"]
            shared.setdefault("queues", []).append(q)
            target = sqs.get_queue_attributes(QueueUrl=q, AttributeNames=["QueueArn"])[
                "Attributes"]["QueueArn"]
        out = ev.put_targets(Rule=rule, Targets=[{"Id": "sqs", "Arn": target}])
        tgts = ev.list_targets_by_rule(Rule=rule)["Targets"]
        ck.check("PutTargets SQS", out.get("FailedEntryCount", 0) == 0
                 and [t["Arn"] for t in tgts] == [target], tgts)

    def cleanup() -> None:
        for what, fn in [
            ("rule", lambda: (ev.remove_targets(Rule=shared["rule"], Ids=["sqs"]),
                              ev.delete_rule(Name=shared["rule"]))),
            ("table", lambda: ddb.delete_table(TableName=shared["table"])),
            ("queues", lambda: [sqs.delete_queue(QueueUrl=u) for u in shared["queues"]]),
        ]:
            try:
                fn()
            except KeyError:
                pass
            except Exception as e:  # noqa: BLE001
                print(f"  (cleanup of {what} failed: {e})")

    t0 = time.monotonic()
    try:
        checks.section("DynamoDB (moto provider)", dynamodb)
        checks.section("SQS", sqs_checks)
        checks.section("Secrets Manager", secrets)
        checks.section("EventBridge", events)
    finally:
        cleanup()
    print(f"total {time.monotonic() - t0:.2f} s")
    print(f"smoke: {checks.passed} passed, {checks.failed} failed")
    return 0 if checks.failed == 0 else 1


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--endpoint",
                    default=f"http://127.0.0.1:{os.environ.get('TB_LOCALSTACK_PORT', '4566')}")
    ap.add_argument("--services", default=DEFAULT_SERVICES)
    ap.add_argument("--wait", type=float, default=0, help="poll health up to this many seconds")
    ap.add_argument("--pid", type=int, help="with --wait: give up as soon as this process is gone")
    ap.add_argument("--health-only", action="store_true")
    ap.add_argument("--quick", action="store_true", help="one call per service instead of the full test")
    a = ap.parse_args()
    services = [s for s in a.services.split(",") if s]

    if a.wait:
        if not wait_healthy(a.endpoint, services, a.wait, a.pid):
            return 1
    else:
        ok, msg = health(a.endpoint, services)
        if not ok:
            print(f"smoke: {a.endpoint} not healthy: {msg}", file=sys.stderr)
            return 1
    if a.health_only:
        return 0
    if a.quick:
        return 0 if quick(a.endpoint) else 1
    return run_full(a.endpoint)


if __name__ == "__main__":
    sys.exit(main())
