"""What each private-API part of the web tier buys, endpoint by endpoint, A/B
in one run (docs/internals.md lists the parts).

The Procfile's web process serves the same data (``bench.peer_data``) with
``PRIVATE_APIS=all`` (A), and beside it, one at a time, with each part left
out and with none at all (stock Django: B), after a B that is A again (the
run's noise: what two equal sides differ by). Every endpoint's 16-client
phases run on both in rounds A B B A, so that the machine's drift weighs on
both alike; reported per endpoint: both throughputs and A's gain over B. A
part's gain is what the product loses without it. The API's rate limits are
on (100000/minute per user, each client its own user), so that the "throttle"
part is measured too.

    .venv/bin/python -m bench.internals [--requests 40] [--parts asgi,prepared]
    .venv/bin/python -m bench.internals --smoke   # tiny sizes, seconds: does it run?
"""

import argparse
import functools
import os
import random
import time

from bench import common, peer_data, web_tier

os.environ.setdefault("BENCH_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/bench_internals")

ENDPOINTS = ("healthz", "projects", "job list", "job detail", "documents", "delete")
GAIN_TO_KEEP = 0.10  # a part stays only if it buys at least this on some endpoint


PARTS = ("asgi", "prepared", "writes", "throttle")  # config.env.PRIVATE_API_PARTS
RATE_LIMITS = {"API_THROTTLE_USER": "100000/minute", "API_THROTTLE_ANON": "100000/minute"}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--requests", type=int, default=40, help="per client, endpoint and side")
    parser.add_argument("--parts", default=",".join(PARTS), help="parts to leave out")
    parser.add_argument("--no-stock", action="store_true", help="skip the all-off comparison")
    parser.add_argument("--smoke", action="store_true", help="tiny sizes, to check it runs")
    args = parser.parse_args()
    if args.smoke:
        args.clients, args.requests = 2, 2
    # The same server twice first: how far apart two equal sides land in this
    # run (its noise), against which the parts' gains are read.
    variants = {"all again (noise)": "all"}
    variants.update({f"without {p}": _without(p) for p in args.parts.split(",") if p})
    if not args.no_stock:
        variants["stock Django (none)"] = "none"
    bench = common.setup("internals")
    try:
        figures = measure(bench, args, variants)
    finally:
        bench.close()
    path = common.write_results("internals", figures)
    report(figures, path)


def _without(part: str) -> str:
    return ",".join(p for p in PARTS if p != part) or "none"


def measure(bench, args, variants: dict) -> dict:
    started = time.perf_counter()
    count = args.clients * args.requests
    targets = (len(variants) * 2 + 1) * (count + args.clients * 2) + 100
    data = peer_data.build(
        clients=args.clients,
        deleted=100 if args.smoke else 10_000,
        delete_targets=targets,
    )
    makers = data.makers(random.Random(7))
    from django.conf import settings

    assert settings.PRIVATE_API_PARTS == PARTS, "bench.internals.PARTS is out of step"
    serve = functools.partial(common.serve_web, bench, web_tier.BaselineWeb, **RATE_LIMITS)
    ours = serve(label="web-all", PRIVATE_APIS="all")
    results = {}
    for name, parts in variants.items():
        other = serve(label="web-b", PRIVATE_APIS=parts)
        sides = {"all": [ours.url], name: [other.url]}
        for label in ENDPOINTS:  # warm both up: imports, connections, plans
            peer_data.rounds(
                data,
                makers,
                label,
                sides,
                clients=args.clients,
                count=args.clients * 2,
                order=["all", name],
            )
        results[name] = {"PRIVATE_APIS": parts}
        for label in ENDPOINTS:
            both = peer_data.rounds(
                data,
                makers,
                label,
                sides,
                clients=args.clients,
                count=count,
                order=["all", name, name, "all"],
            )
            a, b = both["all"]["throughput_rps"], both[name]["throughput_rps"]
            results[name][label] = {
                "all": both["all"],
                name: both[name],
                "gain": round(a / b - 1, 3),
            }
        bench.stop(other)
    return {
        "config": {
            "clients": args.clients,
            "requests_per_endpoint_and_side": count,
            "server": "the Procfile's web command (DEBUG off)",
            "rate_limits": "100000/minute per user, on",
        },
        "variants": results,
        "wall_seconds": round(time.perf_counter() - started, 1),
        "load": common.load_note(),
    }


def report(figures: dict, path) -> None:
    print(
        f"\nA = PRIVATE_APIS=all, B = the variant; {figures['config']['clients']} clients,"
        " requests/second, rounds A B B A"
    )
    print(f"{'variant':<24} {'endpoint':<12} {'A req/s':>9} {'B req/s':>9} {'A/B - 1':>8}")
    for name, rows in figures["variants"].items():
        for label in ENDPOINTS:
            row = rows[label]
            print(
                f"{name:<24} {label:<12} {row['all']['throughput_rps']:>9.0f} "
                f"{row[name]['throughput_rps']:>9.0f} {row['gain']:>+8.1%}"
            )
        gains = [rows[label]["gain"] for label in ENDPOINTS]
        if rows["PRIVATE_APIS"] == "all":
            print(f"{'':<24} two equal sides differ by {min(gains):+.1%} to {max(gains):+.1%}")
            continue
        verdict = "keeps" if max(gains) >= GAIN_TO_KEEP else "below 10% everywhere"
        print(f"{'':<24} best gain {max(gains):+.1%}: {verdict}")
    print(f"\n{figures['load']}; {figures['wall_seconds']} s; figures in {path}")


if __name__ == "__main__":
    main()
