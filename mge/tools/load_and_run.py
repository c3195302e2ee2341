"""``load_and_run``: load a model, run it, time it and check it, as MegEngine's tool does.

The model is a ``.mge`` file or a test-case container (``dump_with_testcase``,
``trace.dump(input_data=...)``, by mge or MegEngine 1.13). Every embedded test case is
run: warm-up runs before the first, then ``--iter`` timed runs, each printed (a progress
bar instead on long runs), and a summary (total, average, standard deviation, min,
max). Each checked output's max error against its expected value is reported; a case
whose error exceeds the check's ``maxerr`` fails the run (exit status 1, the message
names the output and the error). Bad options, unreadable files and inputs that do not
fit the model stop with a one-line error and exit status 2.

Inputs: the test cases; or ``--input "name:file.npy;name2:img.png;name3:[1,2,3]"``
(inputs it leaves out come from the first test case, or are random); or, for a plain
model, random data in [0, 1). The model runs on ``mge.lite`` (``LiteNetwork``): on the
CPU or CUDA (``--cpu``/``--cuda``; default: CUDA when available) with the plan backend
``--backend`` (``auto``: the fastest).

Example:
    $ load_and_run resnet18.mgbtest --iter 20 --warmup-iter 2 --model-info
    $ python -m mge.tools.load_and_run model.mge --input "data:cat.npy" --profile prof.json
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import tqdm

from ..graph.ir import ConstOp, Host2DeviceCopy
from ..jit.testcase import AssertCheck, TestcaseModel, load_testcase_model
from ..lite import LiteConfig, LiteDeviceType, LiteError, LiteNetwork
from ..ops.utility import describe_mismatch, max_error, passes
from ..runtime.plan import PLAN_BACKENDS, PlanBackend, PlanOptions, available_plan_backends
from .cli import Parser, ToolError, add_option, run_tool
from .inputs import parse_inputs

PROG = "load_and_run"
#: runs longer than this many iterations show a progress bar instead of one line each
LONG_RUN = 20
#: most runs ``--iter``/``--warmup-iter`` accept
MAX_RUNS = 2**31 - 1
#: most threads ``--thread``/``--multithread`` accept
MAX_THREADS = 256
Log = Callable[[str], None]


def build_parser() -> Parser:
    """The command line (MegEngine's option names; ``--a-b`` and ``--a_b`` both work)."""
    parser = Parser(prog=PROG, description=__doc__.split("\n\n")[0],
                    formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("model", help=".mge model or test-case file")
    parser.add_argument("--input", metavar="SPEC",
                        help='input data: "name:file.npy;name2:img.png;name3:[1,2]"')
    parser.add_argument("--iter", type=int, default=10, help="timed runs per test case")
    add_option(parser, "--warmup-iter", type=int, default=1,
               help="untimed runs before the first test case")
    parser.add_argument("--thread", type=int, default=1,
                        help="run the whole job in this many threads at once")
    parser.add_argument("--multithread", type=int, default=1,
                        help="CPU threads the kernels of one run use")
    device = parser.add_mutually_exclusive_group()
    device.add_argument("--cpu", action="store_true", help="run on the CPU")
    device.add_argument("--cuda", action="store_true", help="run on CUDA")
    parser.add_argument("--backend", default="auto",
                        help="plan backend (mge.runtime.plan): auto picks the fastest, or "
                        "with --profile/--io-dump the fastest that runs op by op")
    parser.add_argument("--profile", metavar="FILE",
                        help="write per-op times as JSON to FILE (and a .txt summary)")
    add_option(parser, "--model-info", action="store_true",
               help="print inputs, outputs, op counts, params and file size")
    parser.add_argument("--verbose", action="store_true",
                        help="print every run, input statistics and each check")
    add_option(parser, "--io-dump", metavar="DIR",
               help="write every op's outputs of every run as .npy files into DIR")
    add_option(parser, "--disable-assert-throw", action="store_true",
               help="report failed checks but exit 0")
    return parser


def _check_args(args: argparse.Namespace) -> LiteConfig:
    """Validate numbers and device; the Lite config to run with."""
    for name, low, high in (("iter", 1, MAX_RUNS), ("warmup_iter", 0, MAX_RUNS),
                            ("thread", 1, MAX_THREADS), ("multithread", 1, MAX_THREADS)):
        if not low <= getattr(args, name) <= high:
            raise ToolError(f"--{name.replace('_', '-')} must be from {low} to {high}, "
                            f"got {getattr(args, name)}")
    if args.io_dump and os.path.exists(args.io_dump) and not os.path.isdir(args.io_dump):
        raise ToolError(f"--io-dump {args.io_dump!r} exists and is not a folder")
    kind = LiteDeviceType.LITE_CUDA if args.cuda else (
        LiteDeviceType.LITE_CPU if args.cpu else LiteDeviceType.LITE_DEVICE_DEFAULT)
    if args.cuda:
        from ..device import is_cuda_available

        if not is_cuda_available():
            raise ToolError("--cuda: no CUDA device is available")
    # imports the backends' libraries now, so that they do not count as load time
    usable = available_plan_backends(PlanOptions(device="gpu0" if args.cuda else "cpu0"))
    if args.backend != "auto" and args.backend not in usable:
        raise ToolError(f"--backend {args.backend!r} is not available here "
                        f"(available: auto, {', '.join(usable)})")
    config = LiteConfig(kind)
    config.plan_backend = args.backend
    per_op = [n for n in usable
              if PLAN_BACKENDS[n].compile_graph is PlanBackend.compile_graph]
    if args.backend == "auto" and (args.profile or args.io_dump) and per_op:
        config.plan_backend = per_op[0]  # whole-graph backends have no ops to observe
    return config


def _shape(shape: Sequence[int]) -> str:
    return "{" + ",".join(str(d) for d in shape) + "}"


def _table(rows: list[list[str]]) -> str:
    widths = [max(len(r[k]) for r in rows) for k in range(len(rows[0]))]
    lines = [" | ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) for r in rows]
    lines.insert(1, "-+-".join("-" * w for w in widths))
    return "\n".join(lines)


#: file operators holding parameters and constants
_FILE_CONSTS = ("ImmutableTensor", "SharedDeviceTensor", "VolatileSharedDeviceTensor",
                "MultipleDeviceTensorHolder")


def model_info(path: str, model: TestcaseModel) -> str:
    """Inputs, outputs, op counts, params and file size, as text."""
    g = model.graph
    rows = [["type", "name", "shape", "dtype"]]
    rows += [["INPUT", v.name or "", _shape(v.shape), str(v.dtype)] for v in g.inputs]
    counts: dict[str, int] = {}
    if model.staged is None:
        rows += [["OUTPUT", v.name or "", _shape(v.shape), str(v.dtype)] for v in g.outputs]
        values = [n.outputs[0].value for n in g.ops() if isinstance(n.op, ConstOp)]
        for node in g.ops():
            if not isinstance(node.op, (ConstOp, Host2DeviceCopy)):
                counts[node.type] = counts.get(node.type, 0) + 1
    else:  # the file's operators; output shapes depend on input values
        rows += [["OUTPUT", name, "(value-dependent)", ""] for _, name in model.staged.outputs]
        values = [t.data for op in model.staged.model.operators
                  if op.type in _FILE_CONSTS for t in op.tensors]
        for op in model.staged.model.operators:
            if op.type not in (*_FILE_CONSTS, "Host2DeviceCopy"):
                counts[op.type] = counts.get(op.type, 0) + 1
    ops = ", ".join(f"{k} {v}" for k, v in sorted(counts.items(), key=lambda kv: -kv[1]))
    elems = sum(int(np.size(v)) for v in values if v is not None)
    nbytes = sum(v.nbytes for v in values if v is not None)
    params = values
    size = os.path.getsize(path)
    checked = sum(c is not None for c in model.checks)
    return "\n".join([
        "Runtime Model Info", _table(rows),
        f"ops: {sum(counts.values())} ({ops})",
        f"params: {len(params)} tensors, {elems} elements, {nbytes / 2**20:.3f} MiB",
        f"file: {size} bytes (model {len(model.model)} bytes, {len(model.cases)} test cases, "
        f"{checked} of {len(model.checks)} outputs checked)"])


def _stats(name: str, value: np.ndarray) -> str:
    v = value.astype(np.float64)
    rng = f" range=({v.min():.4g},{v.max():.4g}) mean={v.mean():.4g}" if v.size else ""
    return f"  {name}: shape={_shape(value.shape)} dtype={value.dtype}{rng}"


class Job:
    """One whole run: load, warm up, run and check every case (``--thread`` runs several)."""

    def __init__(self, args: argparse.Namespace, config: LiteConfig, log: Log) -> None:
        self.args = args
        self.config = config
        self.log = log

    def load(self) -> tuple[TestcaseModel, LiteNetwork]:
        args = self.args
        model = load_testcase_model(args.model)
        network = LiteNetwork(self.config)
        network.threads_number = args.multithread
        if args.profile:
            network.enable_profile_performance(args.profile)
        if args.io_dump:
            network.io_bin_dump(args.io_dump)
        try:
            if model.staged is not None:  # shapes that depend on values: run in stages
                network.load(model.model)
            else:
                network.load_from_graph(model.graph, model.metadata)
        except LiteError as exc:
            raise ToolError(f"cannot load {args.model}: {exc}") from None
        return model, network

    def cases(self, model: TestcaseModel) -> list[dict[str, np.ndarray]]:
        """The input data of each run (``:expect`` values included for checked cases)."""
        inputs = {v.name: (v.shape, v.dtype) for v in model.graph.inputs}
        if not self.args.input and model.cases:
            return model.cases
        given = parse_inputs(self.args.input, inputs) if self.args.input else {}
        if model.cases:
            self.log("--input given: the test cases' expected values are not checked")
            return [{**{k: model.cases[0][k] for k in inputs}, **given}]
        missing = [k for k in inputs if k not in given]
        if missing:
            self.log(f"no data for {', '.join(missing)}: using random values in [0, 1)")
        rng = np.random.default_rng(0)
        return [{**{k: rng.random(inputs[k][0]).astype(inputs[k][1]) for k in missing},
                 **given}]

    def feed(self, network: LiteNetwork, case: dict[str, np.ndarray]) -> None:
        for name in network.get_all_input_name():
            if name not in case:
                raise ToolError(f"no data for input {name!r}")
            tensor = network.get_io_tensor(name)
            value = case[name].astype(tensor.layout.np_dtype, copy=False)  # as MegEngine does
            tensor.set_data_by_copy(value)
            if self.args.verbose:
                self.log(_stats(name, value))

    def forward(self, network: LiteNetwork) -> tuple[list[np.ndarray], float, float]:
        """One run: outputs, host time and end-to-end time (ms)."""
        start = time.perf_counter()
        try:
            network.forward()
            host = time.perf_counter()
            network.wait()
        except LiteError as exc:
            raise ToolError(f"cannot run {self.args.model}: {exc}") from None
        outs = [network.get_io_tensor(n).to_numpy() for n in network.get_all_output_name()]
        end = time.perf_counter()
        return outs, (host - start) * 1e3, (end - start) * 1e3

    def timed(self, network: LiteNetwork, idx: int, show_bar: bool) -> tuple[list, float]:
        n = self.args.iter
        long_run = n > LONG_RUN and not self.args.verbose
        times, outs = [], []
        for i in tqdm.tqdm(range(n), desc=f"test #{idx}", unit="iter", file=sys.stderr,
                           disable=not (long_run and show_bar)):
            outs, host, e2e = self.forward(network)
            times.append(e2e)
            if not long_run:
                self.log(f"iter {i}/{n}: e2e={e2e:.3f} ms (host={host:.3f} ms)")
        total = sum(times)
        std = math.sqrt(max(sum((t - total / n) ** 2 for t in times) / (n - 1), 0)) \
            if n > 1 else 0.0
        self.log(f"=== finished test #{idx}: time={total:.3f} ms avg_time={total / n:.3f} ms "
                 f"standard_deviation={std:.3f} ms min={min(times):.3f} ms "
                 f"max={max(times):.3f} ms")
        return outs, total

    def check(self, idx: int, case: dict[str, np.ndarray], names: list[str],
              outs: list[np.ndarray], checks: list[AssertCheck | None]) -> int:
        """Compare the outputs with the case's expected values; the number of failures."""
        failed = 0
        if not any(check is not None and check.expect in case for check in checks):
            self.log(f"testcase #{idx}: no expected values, outputs not checked")
        for name, value, check in zip(names, outs, checks, strict=True):
            if check is None or check.expect not in case:
                continue
            expect = case[check.expect]
            what = f"testcase #{idx} output {name!r}"
            if expect.shape != value.shape:
                self.log(f"FAIL {what}: shape {value.shape} differs from the expected "
                         f"{expect.shape}")
                failed += 1
                continue
            err = max_error(expect, value)
            if passes(err, check.maxerr):
                self.log(f"{what}: max_err={err:.6g} maxerr={check.maxerr:g} OK")
            else:
                self.log(f"FAIL {describe_mismatch(expect, value, check.maxerr, what)}")
                failed += 1
        return failed

    def run(self, show_bar: bool = True) -> int:
        """The job; returns the number of failed checks."""
        start = time.perf_counter()
        model, network = self.load()
        self.log(f"load model: {(time.perf_counter() - start) * 1e3:.3f}ms")
        plan = network.plan
        self.log(f"running on {plan.options.device} with the {plan.backend.name} backend, "
                 f"{network.threads_number} kernel thread(s)")
        if self.args.model_info:
            self.log(model_info(self.args.model, model))
        cases = self.cases(model)
        checks = [None] * len(model.checks) if self.args.input else model.checks
        names = network.get_all_output_name()
        failed, total = 0, 0.0
        for idx, case in enumerate(cases):
            self.log(f"run testcase: {idx}")
            self.feed(network, case)
            for i in range(self.args.warmup_iter if idx == 0 else 0):
                self.log(f"warm up {i}  {self.forward(network)[2]:.3f}ms")
            outs, spent = self.timed(network, idx, show_bar)
            total += spent
            failed += self.check(idx, case, names, outs, checks)
        self.log(f"=== total time: {total:.3f}ms")
        if self.args.profile:
            self.log(f"profile written to {self.args.profile}")
        return failed


def _run_threads(args: argparse.Namespace, config: LiteConfig) -> int:
    lock = threading.Lock()
    results: list[Any] = [None] * args.thread

    def work(k: int) -> None:
        def log(line: str) -> None:
            with lock:
                print(f"[thread {k}] {line}", flush=True)
        try:
            results[k] = Job(args, config, log).run(show_bar=False)
        except BaseException as exc:  # re-raised in the main thread
            results[k] = exc

    threads = [threading.Thread(target=work, args=(k,)) for k in range(args.thread)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for r in results:
        if isinstance(r, BaseException):
            raise r
    return sum(results)


def _main(argv: Sequence[str] | None) -> int:
    args = build_parser().parse_args(argv)
    config = _check_args(args)
    print(f"mge load_and_run: {args.model}", flush=True)
    if args.thread == 1:
        failed = Job(args, config, lambda line: print(line, flush=True)).run()
    else:
        failed = _run_threads(args, config)
    if not failed:
        return 0
    print(f"{PROG}: {failed} check(s) failed", file=sys.stderr)
    return 0 if args.disable_assert_throw else 1


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point: ``load_and_run model [options]``."""
    return run_tool(PROG, _main, argv)


__all__ = ["build_parser", "main", "model_info"]

if __name__ == "__main__":
    sys.exit(main())
