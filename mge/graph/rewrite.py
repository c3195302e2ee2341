"""The rewrite engine: rules as data (pattern -> replacement), run to a fixed point.

One engine serves both graph layers: the static graph's inference passes
(:mod:`mge.graph.passes`, over :class:`~mge.graph.Graph`) and ``tm.optimize``
(:mod:`mge.traced_module.passes`, over TracedModule graphs). An IR takes part through a
small :class:`IRView`: its ops in order, an op's input values, a value's producer and
readers, constants, replacing a value, and ``lint``.

A :class:`Pat` describes a value by the op that produces it and, recursively, that op's
inputs; names capture what matched. A :class:`Rule` pairs a pattern with a replacement
``fn(view, **captures) -> bool`` (False: the rule does not apply after all).
:func:`rewrite_to_fixed_point` tries the rules at every op, in order, sweeping again
until a sweep rewrites nothing. :class:`PassRegistry` runs named passes after
the passes they declare to require, and lints the IR after each one.

Example (the idea of tinygrad's ``PatternMatcher`` tables and MegEngine's
``traced_module/_passes/pattern.py``):
    >>> rules = RuleSet([
    ...     Rule("double-negation", Pat(is_neg, inputs=(Pat(is_neg, inputs=(Pat.var("x"),)),)),
    ...          lambda view, root, x: view.replace(root, x)),
    ... ])                                                     # doctest: +SKIP
    >>> rewrite_to_fixed_point(view, rules)                    # doctest: +SKIP
    True
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any, Generic, Protocol, TypeVar

OpT = TypeVar("OpT")
ValueT = TypeVar("ValueT")


class IRView(Protocol[OpT, ValueT]):
    """What the engine needs to know about an IR (one adapter per IR)."""

    def ops(self) -> Iterable[OpT]:
        """The ops in topological order (a snapshot: rewrites may follow)."""

    def contains(self, op: OpT) -> bool:
        """Whether ``op`` is still in the IR (as of the last ``refresh``)."""

    def inputs(self, op: OpT) -> Sequence[ValueT]:
        """The values ``op`` reads, in order."""

    def output(self, op: OpT) -> ValueT | None:
        """The value ``op`` computes (its first output), None if it has none."""

    def producer(self, value: ValueT) -> OpT | None:
        """The op computing ``value``; None for graph inputs."""

    def sole_reader(self, value: ValueT) -> OpT | None:
        """The one op reading ``value``, when nothing else (nor the outputs) reads it."""

    def constant(self, value: ValueT) -> Any:
        """``value``'s constant (a numpy array), or None when it is not a constant."""

    def refresh(self) -> None:
        """Re-read the IR after a rewrite (readers, order, what ``contains``); a view
        that follows each edit made through it has nothing to do."""

    def lint(self) -> None:
        """Raise when the IR is inconsistent."""


@dataclasses.dataclass(frozen=True)
class Pat:
    """A pattern for one value.

    Args:
        op: predicate on the op producing the value (None: any value, graph inputs too).
        inputs: patterns for that op's inputs, positionally (None: any inputs).
        name: capture the value under this name (the root op's value is ``root``).
        sole: the value must have exactly one reader, the op matched one level up.
        const: True: the value must be a constant; False: it must not be one.
    """

    op: Callable[[Any], bool] | None = None
    inputs: tuple[Pat, ...] | None = None
    name: str | None = None
    sole: bool = False
    const: bool | None = None

    @staticmethod
    def var(name: str | None = None, const: bool | None = None) -> Pat:
        """Any value (captured as ``name``); ``const=False``: any but a constant."""
        return Pat(name=name, const=const)

    @staticmethod
    def cvar(name: str | None = None) -> Pat:
        """A constant value (captured as ``name``; read it with ``view.constant``)."""
        return Pat(name=name, const=True)

    def match(self, view: IRView, value: Any, reader: Any,
              captures: dict[str, Any]) -> bool:
        """Match ``value`` (read by ``reader``), adding to ``captures``; False if no match."""
        if self.sole and view.sole_reader(value) is not reader:
            return False
        if self.const is not None and (view.constant(value) is not None) != self.const:
            return False
        if self.op is not None or self.inputs is not None:
            op = view.producer(value)
            if op is None or (self.op is not None and not self.op(op)) \
                    or not self._match_inputs(view, op, captures):
                return False
        if self.name is not None:
            if self.name in captures and captures[self.name] is not value:
                return False
            captures[self.name] = value
        return True

    def match_op(self, view: IRView, op: Any, captures: dict[str, Any]) -> bool:
        """Match at the root: ``op`` itself (its value is captured as ``root``)."""
        if self.op is not None and not self.op(op):
            return False
        if not self._match_inputs(view, op, captures):
            return False
        captures["root"] = view.output(op)
        if self.name is not None:
            captures[self.name] = captures["root"]
        return True

    def _match_inputs(self, view: IRView, op: Any, captures: dict[str, Any]) -> bool:
        if self.inputs is None:
            return True
        values = list(view.inputs(op))
        if len(values) != len(self.inputs):
            return False
        trial = dict(captures)
        if not all(p.match(view, v, op, trial) for p, v in zip(self.inputs, values, strict=True)):
            return False
        captures.update(trial)
        return True

    def commuted(self) -> Pat:
        """The same pattern with its two input patterns swapped (``a + b`` / ``b + a``)."""
        if self.inputs is None or len(self.inputs) != 2:
            raise ValueError("commuted() needs a pattern with two input patterns")
        return dataclasses.replace(self, inputs=self.inputs[::-1])


Replacement = Callable[..., bool]


@dataclasses.dataclass(frozen=True)
class Rule:
    """``pattern -> replacement``: ``fn(view, **captures)`` rewrites; False if it declines."""

    name: str
    pattern: Pat
    fn: Replacement

    def apply(self, view: IRView, op: Any) -> bool:
        captures: dict[str, Any] = {}
        if not self.pattern.match_op(view, op, captures):
            return False
        return bool(self.fn(view, **captures))

    def may_match(self, kind: type | None) -> bool:
        """Whether the root can match an op of ``kind`` (see :func:`of_kinds`; ``None``:
        the view does not tell kinds apart)."""
        kinds = getattr(self.pattern.op, "kinds", None)
        return kind is None or kinds is None or issubclass(kind, kinds)


def of_kinds(predicate: Callable[[Any], bool], *kinds: type) -> Callable[[Any], bool]:
    """``predicate``, declared true only of ops whose kind (a view's ``kind(op)``, e.g. the
    class of a graph op's ``OpDef``) is a subclass of one of ``kinds``: a rule set tries
    a rule rooted at it only on such ops."""
    predicate.kinds = kinds  # type: ignore[attr-defined]
    return predicate


def both_orders(name: str, pattern: Pat, fn: Replacement) -> list[Rule]:
    """Rules for a two-input pattern and its mirror image (the first order is tried first)."""
    return [Rule(name, pattern, fn), Rule(name, pattern.commuted(), fn)]


class RuleSet:
    """An ordered table of rules; the first that matches and rewrites wins."""

    def __init__(self, rules: Iterable[Rule]) -> None:
        self.rules = tuple(rules)
        #: the rules that may match an op of a kind, in order (see :meth:`Rule.may_match`)
        self._by_kind: dict[type | None, tuple[Rule, ...]] = {}

    def __add__(self, other: RuleSet) -> RuleSet:
        return RuleSet(self.rules + other.rules)

    def rewrite(self, view: IRView, op: Any) -> bool:
        """Apply the first rule that matches ``op`` and rewrites. A view with a
        ``kind(op)`` method has only the rules whose root may match that kind tried."""
        kind_of = getattr(view, "kind", None)
        kind = None if kind_of is None else kind_of(op)
        rules = self._by_kind.get(kind)
        if rules is None:
            rules = self._by_kind[kind] = tuple(r for r in self.rules if r.may_match(kind))
        for rule in rules:
            if rule.apply(view, op):
                return True
        return False


def rewrite_to_fixed_point(view: IRView, rules: RuleSet, limit: int = 100_000) -> bool:
    """Apply ``rules`` at every op until none applies; True if anything changed.

    Sweeps the ops in order; after each rewrite the view is refreshed and the sweep goes
    on with the next op that is still in the IR (``view.contains``). Sweeps repeat until
    one rewrites nothing (a rewrite may enable a match at an op the sweep already
    passed). ``limit`` bounds the number of rewrites (a rule set that undoes itself
    raises ``RuntimeError`` instead of looping).
    """
    changed = False
    rewrites = 0
    while True:
        view.refresh()
        swept = False
        for op in view.ops():  # a snapshot: it keeps removed ops referenced, ids unique
            if swept and not view.contains(op):
                continue
            if not rules.rewrite(view, op):
                continue
            changed = swept = True
            rewrites += 1
            if rewrites >= limit:
                raise RuntimeError(
                    f"rewrite rules did not reach a fixed point after {limit} rewrites")
            view.refresh()
        if not swept:
            return changed


class FoldingView(IRView[OpT, ValueT], Protocol):
    """An IR that can evaluate its ops on constants (for :func:`fold_constants`)."""

    def evaluate(self, op: OpT, constants: list[Any]) -> list[Any] | None:
        """``op``'s output values from its constant inputs; None to leave ``op`` alone."""

    def set_constants(self, op: OpT, values: list[Any]) -> None:
        """Replace ``op``'s outputs by constants holding ``values``."""


def fold_constants(view: FoldingView) -> bool:
    """Evaluate every op whose inputs are all constants, once, in topological order (so
    chains of them fold in one sweep); True if anything was folded."""
    changed = False
    for op in list(view.ops()):
        inputs = view.inputs(op)
        constants = [view.constant(v) for v in inputs]
        if not inputs or any(c is None for c in constants):
            continue
        values = view.evaluate(op, constants)
        if values is not None:
            view.set_constants(op, values)
            changed = True
    return changed


TargetT = TypeVar("TargetT")
PassFn = Callable[[Any], bool]


@dataclasses.dataclass(frozen=True)
class RegisteredPass:
    """A registered pass: ``run(target) -> changed``, after the passes in ``requires``."""

    name: str
    run: PassFn
    requires: tuple[str, ...] = ()


class PassRegistry(Generic[TargetT]):
    """Passes by name, with prerequisites, linting the target after each pass.

    Args:
        what: what the passes rewrite (for error messages).
        lint: ``lint(target)`` raising on an inconsistent target.
    """

    def __init__(self, what: str, lint: Callable[[TargetT], None]) -> None:
        self.what = what
        self._lint = lint
        self._passes: dict[str, RegisteredPass] = {}

    def register(self, name: str, requires: Iterable[str] = ()) -> Callable[[PassFn], PassFn]:
        """Decorator registering ``fn(target) -> changed`` under ``name``."""

        def deco(fn: PassFn) -> PassFn:
            if name in self._passes:
                raise ValueError(f"{self.what} pass {name!r} registered twice")
            self._passes[name] = RegisteredPass(name, fn, tuple(requires))
            return fn

        return deco

    def __contains__(self, name: object) -> bool:
        return name in self._passes

    def __getitem__(self, name: str) -> RegisteredPass:
        if name not in self._passes:
            raise KeyError(f"unknown pass {name!r}; known {self.what} passes: {', '.join(self)}")
        return self._passes[name]

    def __iter__(self) -> Iterator[str]:
        return iter(sorted(self._passes))

    def __len__(self) -> int:
        return len(self._passes)

    def expand(self, names: Iterable[str]) -> list[str]:
        """``names`` with their prerequisites first, each once."""
        order: list[str] = []

        def visit(name: str, chain: tuple[str, ...]) -> None:
            if name in chain:
                raise ValueError(
                    f"pass prerequisites form a cycle: {' -> '.join(chain + (name,))}")
            if name in order:
                return
            for dep in self[name].requires:
                visit(dep, chain + (name,))
            order.append(name)

        for n in names:
            visit(n, ())
        return order

    def run(self, target: TargetT, names: Sequence[str], lint: bool = True,
            expand: bool = True) -> list[str]:
        """Run passes ``names`` on ``target`` in place; returns those that changed it.

        With ``expand`` prerequisites run first and each pass once; without, ``names``
        run exactly in the given order (repeats allowed). ``lint`` checks the target
        after every pass.
        """
        changed = []
        for name in (self.expand(names) if expand else names):
            if self[name].run(target):
                changed.append(name)
            if lint:
                self._lint(target)
        return changed


__all__ = [
    "FoldingView", "IRView", "Pat", "PassRegistry", "RegisteredPass", "Rule", "RuleSet",
    "both_orders", "fold_constants", "of_kinds", "rewrite_to_fixed_point",
]
