"""`avsep export ios|android|onnx`, `avsep verify DIR [--arch arm64]`, `avsep census DIR`, `avsep arm64-setup`, `avsep bench DIR`, `avsep keygen`;
registered by the main CLI through `add_parsers(subparsers)`."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from avsep_mobile.runtime.manifest import PRECISIONS


def cmd_export(args) -> int:
    from avsep_mobile import checkpoint

    from .bundle import check_args, checkpoint_info, export
    from .parity import checked

    # every argument and combination refused here, before any model is loaded or calibrated
    if args.checkpoint is not None and args.preset is not None:
        raise ValueError("pass --checkpoint or --preset, not both")
    check_args(args.target, args.precision, speakers=args.speakers, chunk_hops=args.chunk_hops, stateful=args.stateful,
               ios=args.ios_target, int8_scheme=args.int8_scheme, calib_data=args.calib_data)
    sign_key = None
    if args.sign is not None:
        from .signing import load_private

        sign_key = load_private(args.sign)
    preset = args.preset if args.checkpoint is None else None
    model, _ = checkpoint.load(args.checkpoint, preset)
    calib = None
    if args.calib_data is not None:
        from avsep_mobile.quantize.int8 import calibration_examples

        calib = calibration_examples(data=args.calib_data)
    report = export(args.target, model, args.out, precision=args.precision, speakers=args.speakers, chunk_hops=args.chunk_hops,
                    stateful=args.stateful, ios=args.ios_target, checkpoint=checkpoint_info(args.checkpoint, preset),
                    progress=not args.json, calib_examples=calib, int8_scheme=args.int8_scheme, sign_key=sign_key)
    if args.json:
        print(json.dumps(report, indent=2))
    elif report["passed"]:
        print(f"wrote {report['out']}: {checked(report)}; sha256 of every file in manifest.json")
    if not report["passed"]:
        print(f"error: parity gate failed ({', '.join(report['failed'])}); only the report was written to {report['out']}", file=sys.stderr)
        return 1
    return 0


def cmd_verify(args) -> int:
    """The checks of export/verify.py (--quick: hashes only), one line each;
    a bundle that fails one is refused, exit 2 (--json: the rows, exit 2)."""
    from avsep_mobile.runtime.manifest import load, verify

    from .verify import check, format_rows, passed, write_junit

    signed = []
    if args.key is not None:  # the signature first: a manifest that fails it is not trusted
        from avsep_mobile.runtime.signing import check_signature, load_public

        check_signature(args.dir, load_public(args.key))
        signed = [{"check": "signature", "ok": True, "detail": "signature valid: manifest.sig matches the key", "seconds": 0.0}]
    if args.arch == "arm64":
        return _verify_arm64(args, [p for p in verify(args.dir) if "arm64" not in p])  # an earlier arm64 result is re-measured
    rows = signed + check(args.dir, quick=args.quick)
    if args.junit is not None:
        write_junit(args.junit, args.dir, rows, load(args.dir)["target"])
    failed = [f"{r['check']}: {r['detail']}" for r in rows if r["ok"] is False]
    if args.json:  # problems: each of the hash check's, then every other failed check
        problems = verify(args.dir) + [f for r, f in zip([r for r in rows if r["ok"] is False], failed) if r["check"] != "hashes"]
        print(json.dumps({"dir": str(args.dir), "ok": not failed, "checks": rows, "problems": problems}, indent=2))
    else:
        print(format_rows(args.dir, rows))
        if failed:
            print(f"error: {args.dir} refused: {failed[0]}", file=sys.stderr)
    return 0 if passed(rows) else 2


def _verify_arm64(args, problems: list[str]) -> int:
    """The intact bundle's vectors through the aarch64 runtime under qemu
    (export/arm64_verify.py); exit 1 when an arm64 row fails the gate."""
    from . import arm64, arm64_userland, arm64_verify

    if problems:
        raise ValueError(f"{args.dir} refused before the arm64 check: {problems[0]}")
    cpus = [c.strip() for c in args.cpu.split(",") if c.strip()]
    for c in cpus:
        if c not in arm64_userland.PROFILES:
            raise ValueError(f"unknown --cpu {c!r}: choose from {', '.join(arm64_userland.PROFILES)}")
    sign_key = None
    if args.sign is not None:
        from .signing import load_private

        sign_key = load_private(args.sign)
    log = None if args.json else (lambda msg: print(msg, file=sys.stderr))
    try:
        result = arm64_verify.check(args.dir, cpus, progress=log)
    except arm64.GuestError as e:  # the emulated runtime died or refused the model: its reason in one line
        raise ValueError(str(e)) from None
    if args.write:
        arm64_verify.record(args.dir, result, sign_key)
    print(json.dumps(result, indent=2) if args.json else arm64_verify.format_rows(result))
    if not result["passed"] and not args.json:
        print(f"error: arm64 parity gate failed ({', '.join(result['failed'])})", file=sys.stderr)
    return 0 if result["passed"] else 1


def cmd_census(args) -> int:
    """The fp16 census of an ios bundle (export/census.py); exit 1 when a tensor is flagged."""
    from .census import census_bundle, format_census

    result = census_bundle(args.dir)
    print(json.dumps(result, indent=2) if args.json else format_census(result))
    return 0 if result["passed"] else 1


def cmd_arm64_setup(args) -> int:
    from . import arm64_userland

    r = arm64_userland.setup(force=args.force, log=lambda msg: print(msg, file=sys.stderr))
    how = "cached, nothing to do" if r["cached"] else "built"
    print(f"arm64 userland in {r['home']}: {how} ({r['seconds']:.1f} s): python 3.11, "
          + ", ".join(f"{k} {v}" for k, v in r["stamp"]["wheels"].items()))
    return 0


def cmd_keygen(args) -> int:
    from .signing import keygen

    priv, pub = keygen(args.out)
    print(f"wrote {priv} (private: keep it secret, sign with `avsep export ... --sign {priv}`) and {pub} (public: ship it with the app)")
    return 0


def cmd_bench(args) -> int:
    from .bench import bench, format_bench

    if args.repeats < 1 or args.threads < 1:
        raise ValueError("--repeats and --threads must be >= 1")
    if args.profile:  # where each step's time goes (export/profile.py)
        from .profile import format_profile, profile

        result = profile(args.dir, threads=args.threads, repeats=args.repeats)
        print(json.dumps(result, indent=2) if args.json else format_profile(result))
        return 0
    result = bench(args.dir, threads=args.threads, repeats=args.repeats)
    print(json.dumps(result, indent=2) if args.json else format_bench(result))
    return 0


def add_parsers(sub) -> None:
    p = sub.add_parser("export", help="convert to an app bundle (model files, manifest, test vectors, parity report)")
    p.add_argument("target", metavar="{ios,android,onnx}", help="ios: CoreML; android: LiteRT/TFLite; onnx: ONNX")
    p.add_argument("--checkpoint", type=Path, help="a checkpoint written by avsep (default: the shipped mobile_lean.pt; mobile.pt is the full model)")
    p.add_argument("--preset", choices=["base", "mobile", "tiny"], help=argparse.SUPPRESS)  # tests: random weights
    p.add_argument("--out", type=Path, help="bundle dir (default: dist/<target>)")
    p.add_argument("--precision", choices=PRECISIONS, help="default: int8 for ios and android, fp32 for onnx")
    p.add_argument("--int8-scheme", choices=["dynamic", "static", "w8a8", "weights"],
                   help="android: dynamic (default) or static; ios: w8a8 (default) or weights; onnx: static")
    p.add_argument("--calib-data", type=Path, help="int8: calibration mixtures written by `avsep data make` (default: the set shipped in the package)")
    p.add_argument("--chunk-hops", type=int, default=1, help="hops of 10 ms per av_step call")
    p.add_argument("--speakers", type=int, default=2, help="speaker slots")
    p.add_argument("--stateful", action="store_true", help="ios: caches as CoreML states (iOS 18, one multifunction package)")
    p.add_argument("--ios-target", type=int, choices=[17, 18], help="ios: 17 = two packages (default), 18 = one multifunction package")
    p.add_argument("--sign", type=Path, metavar="KEY", help="Ed25519 private key from `avsep keygen`: writes manifest.sig")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_export)

    p = sub.add_parser("verify", help="recheck a bundle: sha256s, every declared name/shape/dtype/config against the model "
                                      "files, and its test vectors through every runtime this machine has")
    p.add_argument("dir", type=Path)
    p.add_argument("--quick", action="store_true", help="the sha256s and the export-time parity verdict only (no model is run)")
    p.add_argument("--junit", type=Path, metavar="FILE", help="also write a JUnit XML report: one test case per check and runtime")
    p.add_argument("--key", type=Path, metavar="PUB", help="public key (signing.pub): also require a valid manifest.sig")
    p.add_argument("--arch", choices=["host", "arm64"], default="host",
                   help="arm64: also stream the test vectors through the aarch64 LiteRT/onnxruntime under qemu (`avsep arm64-setup` first)")
    p.add_argument("--cpu", default="cortex-a53,max",
                   help="--arch arm64: CPU profiles, comma-separated: cortex-a53, cortex-a76, neoverse-n1, max (qemu max without SME), max-sme")
    p.add_argument("--write", action="store_true", help="--arch arm64: record the rows in the parity report and the manifest")
    p.add_argument("--sign", type=Path, metavar="KEY", help="--write on a signed bundle: re-sign manifest.json with this private key")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_verify)

    p = sub.add_parser("census", help="fp16 ios bundle: count the subnormal values of every fp16 op output at -60 dBFS to loud")
    p.add_argument("dir", type=Path)
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_census)

    p = sub.add_parser("arm64-setup", help="build (once) the emulated arm64 userland that `avsep verify --arch arm64` runs in")
    p.add_argument("--force", action="store_true", help="rebuild even when a current one is cached")
    p.set_defaults(func=cmd_arm64_setup)

    p = sub.add_parser("keygen", help="an Ed25519 key pair for signed exports (signing.key, signing.pub)")
    p.add_argument("--out", type=Path, required=True, help="dir for signing.key and signing.pub (never overwritten)")
    p.set_defaults(func=cmd_keygen)

    p = sub.add_parser("bench", help="real-time factor of a bundle's models vs float PyTorch, on this machine")
    p.add_argument("dir", type=Path)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--profile", action="store_true", help="per runtime: top ops by time, binding/reading outputs, Python overhead")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_bench)

    from .compression_report import add_parser as add_report_parser

    add_report_parser(sub)
