#!/usr/bin/env python3
"""Monthly cost of tactical-bridge from the benchmark's counted units (docs/cost.md).

    bench/cost_model.py bench/results/size-1000.json bench/results/size-10000.json

Reads the `cost` entries of each results file (what one run, one agent or one delivery bills,
counted by `bench`), fits per-run figures linearly in the fleet size between the measured sizes
(and extrapolates past the largest, said so), and prints the monthly bill per tenant and for
1,000 tenants as Markdown. Standard library only.
"""

import json
import re
import sys

# us-east-1 list prices (arm64 Lambda, DynamoDB on demand, standard SQS), as docs/cost.md names
# and dates them. Free tiers are left out.
PRICE = {
    "lambda_gb_s": 0.0000133334,  # arm64, per GB-second
    "lambda_request": 0.20 / 1e6,
    "ddb_wru": 0.625 / 1e6,  # on demand, per write request unit
    "ddb_rru": 0.125 / 1e6,
    "ddb_storage_gb": 0.25,
    "ddb_pitr_gb": 0.20,
    "sqs_request": 0.40 / 1e6,
    "secret_month": 0.40,
    "secret_call": 0.05 / 1e4,
    "event": 1.00 / 1e6,  # EventBridge custom events, per 64 KB chunk
    "api_request": 1.00 / 1e6,  # API Gateway HTTP API, per 512 KB
    "logs_gb": 0.50,  # CloudWatch Logs ingestion
}

MONTH_H = 730  # AWS bills a month as 730 hours

# The workload of docs/cost.md.
SCHEDULE = {
    "hourly": MONTH_H,  # device re-sync every hour
    "refresh": MONTH_H * 12,  # status refresh every 5 minutes
    "alerts": MONTH_H * 4,  # alert sync every 15 minutes
    "software": MONTH_H / 24,  # software once a day
}
ALERTS_PER_AGENT_MONTH = 3.0  # new alerts, each one webhook delivery and its follow-up
OPEN_ALERTS_SHARE = 0.05  # open alerts the 15-minute alert sync reconciles, per agent
SOFTWARE_CHANGED = 0.02  # agents whose software changed since yesterday
LOG_BYTES_PER_INVOCATION = 1024  # START/END/REPORT lines, the run metrics line, a few log lines
# Per stack, not per tenant: the scheduler every minute, Lambda's SQS pollers on 4 queues
# (at least 5 long polls of 20 s at a time each while the queue is empty).
SCHEDULER_TICKS = MONTH_H * 60
EMPTY_POLLS = 4 * 5 * 3 * 60 * MONTH_H


def load(paths):
    ops = {}
    for p in paths:
        with open(p) as f:
            r = json.load(f)
        for c in r.get("cost") or []:
            if kind(c["operation"]) == "refresh":
                c["per_unit"]["_refresh"] = True
            ops.setdefault(kind(c["operation"]), []).append(c)
    return ops


def kind(label):
    for k, prefix in [
        ("first", "device sync, first run"),
        ("unchanged", "device re-sync, nothing changed"),
        ("hourly", "hourly device re-sync"),
        ("refresh", "status refresh"),
        ("webhook", "webhook, "),
        ("follow_up", "webhook follow-ups"),
        ("alerts", "alert sync run"),
        ("sw_first", "software ingest, first run"),
        ("sw_unchanged", "software ingest, nothing changed"),
    ]:
        if label.startswith(prefix):
            return k
    return label


def agents_of(c):
    """The fleet size an entry was measured at (from its label)."""
    import re

    m = re.search(r"(\d[\d,]*) agents", c["operation"])
    return int(m.group(1).replace(",", "")) if m else None


def dollars(t):
    """Monthly dollars of a totals dict (units per month), by service."""
    return {
        "DynamoDB writes": t.get("dynamodb_write_units", 0) * PRICE["ddb_wru"],
        "DynamoDB reads": t.get("dynamodb_read_units", 0) * PRICE["ddb_rru"],
        "SQS": t.get("sqs_requests", 0) * PRICE["sqs_request"],
        "Secrets Manager calls": t.get("secrets_manager_calls", 0) * PRICE["secret_call"],
        "EventBridge": t.get("eventbridge_events", 0) * PRICE["event"],
        "API Gateway": t.get("api_gateway_requests", 0) * PRICE["api_request"],
        "Lambda GB-s": t.get("lambda_gb_s", 0) * PRICE["lambda_gb_s"],
        "Lambda requests": t.get("lambda_invocations", 0) * PRICE["lambda_request"],
        "CloudWatch Logs": t.get("lambda_invocations", 0) * LOG_BYTES_PER_INVOCATION / 1e9 * PRICE["logs_gb"],
    }


KEYS = [
    "dynamodb_write_units",
    "dynamodb_read_units",
    "sqs_requests",
    "secrets_manager_calls",
    "eventbridge_events",
    "api_gateway_requests",
    "lambda_gb_s",
    "lambda_invocations",
]


# What-if (docs/cost.md, what would halve it): transitions written onto a small status item of
# their own (1 WRU) instead of the 1-2 KB asset (2 WRU): half the refresh's UpdateItem units.
WHAT_IF = {"on": False}


def totals(unit):
    """The totals of a `per_unit` entry, SQS receives counted as Lambda's pollers make them: one
    per message at most (at low traffic a poller takes each message alone); the harness's own
    polls (empty receives, queue depth) are the per-stack fixed cost instead."""
    t = dict(unit["totals"])
    if WHAT_IF["on"] and unit.get("_refresh"):
        t["dynamodb_write_units"] -= unit["ops"].get("DynamoDB.UpdateItem", {}).get("units", 0) / 2
    rec = unit["ops"].get("SQS.ReceiveMessage")
    if rec:
        t["sqs_requests"] = t.get("sqs_requests", 0) - rec["units"] + min(rec["units"], rec["items"])
    return t


def per_run_at(entries, n):
    """Per-run totals at fleet size n: linear in the fleet size through the two measured sizes
    nearest to n (extrapolated past the largest); returns (totals, how)."""
    pts = sorted((agents_of(e), totals(e["per_unit"])) for e in entries if agents_of(e))
    if not pts:
        return None, "not measured"
    for a, t in pts:
        if a == n:
            return dict(t), "measured"
    if len(pts) == 1:
        a, t = pts[0]
        return {k: t.get(k, 0) * n / a for k in KEYS}, f"scaled from {a:,}"
    lo, hi = (pts[-2], pts[-1]) if n > pts[-1][0] else (pts[0], pts[1])
    (a1, t1), (a2, t2) = lo, hi
    out = {}
    for k in KEYS:
        slope = (t2.get(k, 0) - t1.get(k, 0)) / (a2 - a1)
        out[k] = max(0.0, t1.get(k, 0) + slope * (n - a1))
    how = "extrapolated" if n > pts[-1][0] else "interpolated"
    return out, f"{how} from {a1:,} and {a2:,}"


def per_item(entries):
    """Per-unit totals of the largest measurement (per agent, per delivery, per alert)."""
    e = max(entries, key=lambda e: e["count"])
    return totals(e["per_unit"])


def add(acc, t, times):
    for k in KEYS:
        acc[k] = acc.get(k, 0) + t.get(k, 0) * times


def tenant_month(ops, n):
    """Units per month for one tenant of n agents, by workload line."""
    lines = {}
    notes = {}
    for name, key, runs in [
        ("hourly device re-sync", "hourly", SCHEDULE["hourly"]),
        ("status refresh every 5 min", "refresh", SCHEDULE["refresh"]),
    ]:
        t, how = per_run_at(ops.get(key, []), n)
        notes[name] = how
        acc = {}
        if t:
            add(acc, t, runs)
        lines[name] = acc
    # Alert sync: it reads Tactical's open alerts and this tenant's alert items, so a run costs
    # about its measured figure per open alert.
    acc = {}
    if ops.get("alerts"):
        e = max(ops["alerts"], key=lambda e: e["count"])
        import re

        measured_open = int(re.search(r"(\d+) alerts open", e["operation"]).group(1))
        add(acc, totals(e["per_unit"]), SCHEDULE["alerts"] * OPEN_ALERTS_SHARE * n / measured_open)
        notes["alert sync every 15 min"] = (
            f"{OPEN_ALERTS_SHARE:.0%} of agents with an open alert; scaled per open alert from {measured_open}"
        )
    lines["alert sync every 15 min"] = acc
    acc = {}
    alerts = ALERTS_PER_AGENT_MONTH * n
    for key in ("webhook", "follow_up"):
        if ops.get(key):
            add(acc, per_item(ops[key]), alerts)
    lines[f"webhooks ({ALERTS_PER_AGENT_MONTH:g} alerts per agent a month)"] = acc
    acc = {}
    if ops.get("sw_unchanged"):
        add(acc, per_item(ops["sw_unchanged"]), SCHEDULE["software"] * n)
    if ops.get("sw_first"):
        add(acc, per_item(ops["sw_first"]), SCHEDULE["software"] * n * SOFTWARE_CHANGED)
    lines[f"daily software ({SOFTWARE_CHANGED:.0%} of agents changed)"] = acc
    return lines, notes


def fmt(v):
    return f"{v:,.2f}" if v >= 0.01 else f"{v:,.4f}"


def main(paths):
    ops = load(paths)
    sizes = [1_000, 10_000, 50_000]
    print("## Units per month, one tenant\n")
    for n in sizes:
        lines, notes = tenant_month(ops, n)
        print(f"### {n:,} agents\n")
        print("| workload | WRU | RRU | SQS requests | secret calls | events | API GW | Lambda GB-s | invocations | how |")
        print("|---|---|---|---|---|---|---|---|---|---|")
        for name, t in lines.items():
            row = " | ".join(f"{t.get(k, 0):,.0f}" if k != "lambda_gb_s" else f"{t.get(k, 0):,.0f}" for k in KEYS)
            print(f"| {name} | {row} | {notes.get(name, 'measured per unit')} |")
        print()
    print("## Dollars per month\n")
    print(
        "| agents per tenant | service | one tenant | per 1,000 agents | 1,000 tenants |\n|---|---|---|---|---|"
    )
    for n in sizes:
        lines, _ = tenant_month(ops, n)
        total = {}
        for t in lines.values():
            for k, v in t.items():
                total[k] = total.get(k, 0) + v
        d = dollars(total)
        for secrets in (5, 1):
            d[f"Secrets Manager storage ({secrets} per tenant)"] = secrets * PRICE["secret_month"]
        by_line = {name: sum(dollars(t).values()) for name, t in lines.items()}
        usage = sum(v for k, v in d.items() if not k.startswith("Secrets Manager storage"))
        for k, v in sorted(d.items(), key=lambda kv: -kv[1]):
            print(f"| {n:,} | {k} | {fmt(v)} | {fmt(v / n * 1000)} | {fmt(v * 1000)} |")
        for secrets in (5, 1):
            t = usage + secrets * PRICE["secret_month"]
            print(
                f"| {n:,} | **total, {secrets} secret(s) per tenant** | **{fmt(t)}** | **{fmt(t / n * 1000)}** | **{fmt(t * 1000)}** |"
            )
        print()
        print(f"By workload at {n:,} agents (usage only): " + ", ".join(f"{k} ${fmt(v)}" for k, v in by_line.items()))
        print()
    fixed = {
        "dynamodb_read_units": 0,
        "lambda_invocations": SCHEDULER_TICKS,
        "lambda_gb_s": SCHEDULER_TICKS * 0.05 * 0.25,
        "sqs_requests": EMPTY_POLLS,
    }
    fd = dollars(fixed)
    print(
        "Per stack (any number of tenants): scheduler ticks and Lambda's empty SQS polls: "
        + ", ".join(f"{k} ${fmt(v)}" for k, v in fd.items() if v)
        + f"; total ${fmt(sum(fd.values()))}"
    )
    if ops.get("first"):
        t = per_item(ops["first"])
        one = sum(dollars(t).values())
        print(f"\nOne-time first device sync: ${fmt(one * 1000)} per 1,000 agents (measured per agent).")


UNIT_PRICE = {
    "WRU": PRICE["ddb_wru"],
    "RRU": PRICE["ddb_rru"],
    "SQS requests": PRICE["sqs_request"],
    "API calls": PRICE["secret_call"],
    "events": PRICE["event"],
}


def top_ops(ops, n):
    """Dollars per month per AWS operation of each workload, from the entries measured at n."""
    rows = []
    for key, runs, label in [
        ("hourly", SCHEDULE["hourly"], "hourly re-sync"),
        ("refresh", SCHEDULE["refresh"], "status refresh"),
    ]:
        for e in ops.get(key, []):
            if agents_of(e) != n:
                continue
            for op, o in e["per_unit"]["ops"].items():
                units = o["units"]
                if op == "SQS.ReceiveMessage":
                    units = min(units, o["items"])
                price = UNIT_PRICE.get(o["unit"])
                if price:
                    rows.append((units * runs * price, label, op, units, o["unit"]))
            for fun, l in e["per_unit"]["lambda"].items():
                rows.append((l["gb_s"] * runs * PRICE["lambda_gb_s"], label, f"Lambda {fun} GB-s", l["gb_s"], "GB-s"))
    rows.sort(reverse=True)
    print(f"## Largest lines at {n:,} agents (measured per run)\n")
    print("| workload | operation | per run | $ per month | $ per 1,000 agents |\n|---|---|---|---|---|")
    for d, label, op, units, unit in rows[:14]:
        print(f"| {label} | {op} | {units:,.1f} {unit} | {fmt(d)} | {fmt(d / n * 1000)} |")
    print()


def what_if(paths):
    WHAT_IF["on"] = True
    ops = load(paths)
    print("## What if: transitions on a small status item (1 WRU instead of 2)\n")
    print("| agents per tenant | usage per tenant | + 1 secret | per 1,000 agents |\n|---|---|---|---|")
    for n in [1_000, 10_000, 50_000]:
        lines, _ = tenant_month(ops, n)
        total = {}
        for t in lines.values():
            for k, v in t.items():
                total[k] = total.get(k, 0) + v
        usage = sum(dollars(total).values())
        t = usage + PRICE["secret_month"]
        print(f"| {n:,} | {fmt(usage)} | {fmt(t)} | {fmt(t / n * 1000)} |")
    print()
    WHAT_IF["on"] = False


def transitions_of(e):
    m = re.search(r"(\d+) transitions per run", e["operation"])
    return int(m.group(1)) if m else None


def sensitivity(paths):
    """The status refresh split into what each transition costs (its asset write and its event,
    fixed by how often agents really change) and what a run costs whatever changed (listings,
    snapshot, Lambda), then the total bill per 1,000 agents for other fleets and intervals.
    Computed from the measured entries; only the mix changes."""
    ops = load(paths)
    ref = [e for e in ops.get("refresh", []) if transitions_of(e)]
    if not ref:
        return
    e = max(ref, key=agents_of)
    n, tr = agents_of(e), transitions_of(e)
    unit = e["per_unit"]
    t = totals(unit)
    upd = unit["ops"].get("DynamoDB.UpdateItem", {}).get("units", 0)
    ev = unit["ops"].get("EventBridge.PutEvents", {}).get("units", 0)
    per_tr = (upd * PRICE["ddb_wru"] + ev * PRICE["event"]) / tr
    per_run = sum(dollars(t).values()) - per_tr * tr
    lines, _ = tenant_month(ops, n)
    rest = sum(sum(dollars(v).values()) for k, v in lines.items() if not k.startswith("status refresh"))
    rest += PRICE["secret_month"]
    print(f"## Sensitivity at {n:,} agents (computed from the measured run)\n")
    print(
        f"A transition costs ${per_tr * 1e6:,.2f} per million ({upd / tr:.2f} WRU + {ev / tr:.2f} event); "
        f"a refresh run costs ${per_run * 1e6:,.0f} per million runs whatever changed; everything else "
        f"${rest:,.2f} a month.\n"
    )
    print("| transitions per agent a day | refresh every | refresh $ a month | total per 1,000 agents |")
    print("|---|---|---|---|")
    for per_day in (0.3, 1.0, tr * 288 / n):
        for minutes in (5, 15):
            runs = MONTH_H * 60 / minutes
            refresh = per_run * runs + per_tr * per_day * n * MONTH_H / 24
            print(f"| {per_day:.2f} | {minutes} min | {fmt(refresh)} | {fmt((refresh + rest) / n * 1000)} |")
    print()


if __name__ == "__main__":
    main(sys.argv[1:])
    what_if(sys.argv[1:])
    sensitivity(sys.argv[1:])
    measured = load(sys.argv[1:])
    for n in sorted({agents_of(e) for e in measured.get("refresh", []) if agents_of(e)}):
        top_ops(measured, n)
