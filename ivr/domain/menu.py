"""The inbound menu as data, and the state machine that walks a caller through it.

The tree comes from a file (``ivr/data/menu_95598.toml``); :meth:`MenuTree.from_dict` checks it
whole before the first call, so a typo is a start-up error, not a caller stuck in a loop.
The session is pure: it is told which key came (or that none did) and answers with what to do
next, a :class:`Prompt` to play or a :class:`Route` to an agent queue.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from ivr.domain.calls import CallStep, StepKind
from ivr.domain.speech import (
    Grammar,
    Heard,
    NotUnderstood,
    Silence,
    Understood,
    check_answers,
    describe,
)

DTMF_KEYS = "0123456789*#"
REPLAY_KEY = "*"
BACK_KEY = "#"
_ID = re.compile(r"^[a-z][a-z0-9_]{0,31}$")
_QUEUE = re.compile(r"^[A-Za-z][A-Za-z0-9_-]{0,63}$")
SPEECH_RETRY_PROMPT = "对不起，没有听清楚。请您再说一遍，或者按键选择。"
SPEECH_KEYS_PROMPT = "请您按键选择。"
_CHOICE = re.compile(r"^[a-z][a-z0-9_.]{0,63}$")


class MenuError(ValueError):
    """The menu file is not a usable menu; the message says where."""


@dataclass(frozen=True, slots=True)
class Option:
    """What one key does in one menu: go to a sub-menu, or route to a queue."""

    key: str
    goto: str | None = None
    route: str | None = None
    choice: str | None = None
    priority: int = 0  # Asterisk QUEUE_PRIO: urgent choices (a wire down) are served first


@dataclass(frozen=True, slots=True)
class MenuNode:
    id: str
    prompt: str
    options: Mapping[str, Option]
    grammar: str | None = None  # callers may also *say* their choice (grammars/<name>.json)
    speech_hint: str | None = None  # said before the key menu when the bridge is listening


@dataclass(frozen=True, slots=True)
class MenuTree:
    start: str
    nodes: Mapping[str, MenuNode]
    greeting: str
    invalid_prompt: str
    timeout_prompt: str
    transfer_prompt: str
    default_route: str
    default_choice: str
    max_retries: int = 2
    digit_timeout_ms: int = 5000
    max_keys: int = 30
    speech_retry_prompt: str = SPEECH_RETRY_PROMPT
    speech_keys_prompt: str = SPEECH_KEYS_PROMPT
    max_speech_retries: int = 1  # then keys only, at that menu
    max_menu_s: float = 180.0  # a caller still in the menu after this goes to an agent
    # a caller who has pressed nothing and said nothing understood goes to an agent after this
    # many unanswered menus (0: only after max_retries, like everyone): someone who cannot use
    # the keypad should not sit through every retry
    silent_timeouts: int = 1

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> MenuTree:
        """Build and validate a tree from parsed TOML/JSON."""
        settings = _table(data, "menu", "")
        raw_nodes = _table(data, "nodes", "")
        nodes = {
            node_id: _parse_node(node_id, _table(raw_nodes, node_id, "nodes."))
            for node_id in raw_nodes
        }
        tree = cls(
            start=_text(settings, "start", "menu."),
            nodes=nodes,
            greeting=_text(settings, "greeting", "menu."),
            invalid_prompt=_text(settings, "invalid_prompt", "menu."),
            timeout_prompt=_text(settings, "timeout_prompt", "menu."),
            transfer_prompt=_text(settings, "transfer_prompt", "menu."),
            default_route=_text(settings, "default_route", "menu."),
            default_choice=_text(settings, "default_choice", "menu."),
            max_retries=_int(settings, "max_retries", 2, 0, 9),
            digit_timeout_ms=round(_number(settings, "digit_timeout_s", 5, 1, 30) * 1000),
            max_keys=_int(settings, "max_keys", 30, 5, 200),
            speech_retry_prompt=_text(
                settings, "speech_retry_prompt", "menu.", SPEECH_RETRY_PROMPT
            ),
            speech_keys_prompt=_text(settings, "speech_keys_prompt", "menu.", SPEECH_KEYS_PROMPT),
            max_speech_retries=_int(settings, "max_speech_retries", 1, 0, 3),
            max_menu_s=_number(settings, "max_menu_s", 180, 30, 1800),
            silent_timeouts=_int(settings, "silent_timeouts", 1, 0, 9),
        )
        tree._check_links()
        return tree

    def _check_links(self) -> None:
        if self.start not in self.nodes:
            raise MenuError(f"menu.start names an unknown node {self.start!r}")
        if not _QUEUE.match(self.default_route):
            raise MenuError(f"menu.default_route {self.default_route!r} is not a queue name")
        if not _CHOICE.match(self.default_choice):
            raise MenuError(f"menu.default_choice {self.default_choice!r} is not a choice id")
        reached = {self.start}
        todo = [self.start]
        while todo:
            node = self.nodes[todo.pop()]
            for option in node.options.values():
                if option.goto is None:
                    continue
                if option.goto not in self.nodes:
                    raise MenuError(
                        f"nodes.{node.id}.keys.{option.key} goes to unknown node {option.goto!r}"
                    )
                if option.goto not in reached:
                    reached.add(option.goto)
                    todo.append(option.goto)
        unreachable = sorted(set(self.nodes) - reached)
        if unreachable:
            raise MenuError(f"nodes never reached from {self.start!r}: {', '.join(unreachable)}")

    def prompt_texts(self) -> set[str]:
        """Every fixed text a caller can hear, to render ahead of time."""
        texts = {self.greeting, self.invalid_prompt, self.timeout_prompt, self.transfer_prompt}
        texts.update(node.prompt for node in self.nodes.values())
        if self.grammars():
            texts |= {self.speech_retry_prompt, self.speech_keys_prompt}
            texts.update(n.speech_hint for n in self.nodes.values() if n.speech_hint)
        return texts

    def grammars(self) -> set[str]:
        """Names of the grammars the menu listens with."""
        return {node.grammar for node in self.nodes.values() if node.grammar}

    def check_grammars(self, grammars: Mapping[str, Grammar]) -> None:
        """Every grammar a node names exists, and each of its answers is a key of that node."""
        for node in self.nodes.values():
            if node.grammar is None:
                continue
            grammar = grammars.get(node.grammar)
            if grammar is None:
                raise MenuError(f"nodes.{node.id}.grammar: no grammar named {node.grammar!r}")
            keys = [*node.options, REPLAY_KEY] + ([BACK_KEY] if node.id != self.start else [])
            check_answers(grammar, keys, f"nodes.{node.id}")

    def queues(self) -> set[str]:
        routes = {o.route for n in self.nodes.values() for o in n.options.values() if o.route}
        return routes | {self.default_route}


def _parse_node(node_id: str, raw: Mapping[str, Any]) -> MenuNode:
    where = f"nodes.{node_id}"
    if not _ID.match(node_id):
        raise MenuError(f"{where}: node ids are lower-case words (a-z, 0-9, _)")
    keys = _table(raw, "keys", where + ".")
    options: dict[str, Option] = {}
    for key, spec in keys.items():
        key = str(key)
        option_where = f"{where}.keys.{key}"
        if len(key) != 1 or key not in DTMF_KEYS:
            raise MenuError(f"{option_where}: a key is one of {DTMF_KEYS}")
        if key in (REPLAY_KEY, BACK_KEY):
            raise MenuError(f"{option_where}: '*' replays and '#' goes back in every menu")
        if not isinstance(spec, Mapping):
            raise MenuError(f"{option_where}: expected a table with goto or route")
        unknown = set(spec) - {"goto", "route", "choice", "priority"}
        if unknown:
            raise MenuError(f"{option_where}: unknown fields {sorted(unknown)}")
        goto, route = spec.get("goto"), spec.get("route")
        if (goto is None) == (route is None):
            raise MenuError(f"{option_where}: exactly one of goto or route")
        if route is not None and not (isinstance(route, str) and _QUEUE.match(route)):
            raise MenuError(f"{option_where}: route {route!r} is not a queue name")
        choice = spec.get("choice")
        if route is not None and not (isinstance(choice, str) and _CHOICE.match(choice)):
            raise MenuError(f"{option_where}: a route needs a choice id like 'repair.outage'")
        priority = spec.get("priority", 0)
        if not isinstance(priority, int) or not 0 <= priority <= 100:
            raise MenuError(f"{option_where}: priority is a whole number from 0 to 100")
        options[key] = Option(key, goto=goto, route=route, choice=choice, priority=priority)
    if not options:
        raise MenuError(f"{where}: a menu offers at least one key")
    unknown = set(raw) - {"prompt", "keys", "grammar", "speech_hint"}
    if unknown:
        raise MenuError(f"{where}: unknown fields {sorted(unknown)}")
    grammar = raw.get("grammar")
    if grammar is not None and not (isinstance(grammar, str) and _ID.match(grammar)):
        raise MenuError(f"{where}.grammar: a grammar name is a lower-case word (a-z, 0-9, _)")
    hint = _text(raw, "speech_hint", where + ".", "") or None
    if hint and grammar is None:
        raise MenuError(f"{where}.speech_hint: only a node with a grammar listens")
    return MenuNode(node_id, _text(raw, "prompt", where + "."), options, grammar, hint)


def _table(data: Mapping[str, Any], name: str, where: str) -> Mapping[str, Any]:
    value = data.get(name)
    if not isinstance(value, Mapping):
        raise MenuError(f"{where}{name}: expected a table")
    return value


def _text(data: Mapping[str, Any], name: str, where: str, default: str | None = None) -> str:
    value = data.get(name, default)
    if value == "" and default == "":
        return ""
    if not isinstance(value, str) or not value.strip():
        raise MenuError(f"{where}{name}: expected non-empty text")
    return value.strip()


def _number(data: Mapping[str, Any], name: str, default: float, low: float, high: float) -> float:
    value = data.get(name, default)
    if isinstance(value, bool) or not isinstance(value, int | float) or not low <= value <= high:
        raise MenuError(f"menu.{name}: expected a number from {low} to {high}")
    return float(value)


def _int(data: Mapping[str, Any], name: str, default: int, low: int, high: int) -> int:
    value = data.get(name, default)
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise MenuError(f"menu.{name}: expected a whole number from {low} to {high}")
    return value


@dataclass(frozen=True, slots=True)
class Prompt:
    """Play these texts in order (any key interrupts), then wait for one key; with a
    ``grammar``, first listen for a spoken answer (keys still count while listening)."""

    node: str
    texts: tuple[str, ...]
    grammar: str | None = None


@dataclass(frozen=True, slots=True)
class Route:
    """Send the caller to ``queue``; ``by_default`` when the caller never chose."""

    queue: str
    choice: str
    priority: int
    by_default: bool


Action = Prompt | Route


@dataclass
class MenuSession:
    """One caller's walk through the tree. Records every step it takes."""

    tree: MenuTree
    clock: Callable[[], datetime]
    speech: bool = False  # the bridge can listen (a recogniser is loaded)
    node: str = ""
    retries: int = 0
    speech_retries: int = 0
    keys_only: bool = False  # at this menu: the caller said nothing when asked
    keys: str = ""
    understood: bool = False  # some spoken answer was understood in this call
    timeouts: int = 0
    path: list[str] = field(default_factory=list)
    steps: list[CallStep] = field(default_factory=list)
    started_at: datetime | None = None

    def start(self) -> Prompt:
        self.started_at = self.clock()
        self._enter(self.tree.start)
        return self._offer(self.tree.greeting)

    def back_to_start(self) -> Prompt:
        """Back to the main menu from outside the tree (after an outage notice)."""
        self._step(StepKind.BACK)
        self._enter(self.tree.start)
        return self._offer()

    def _out_of_time(self) -> bool:
        """A caller who keeps the menu going (keys, replays, speech) past ``max_menu_s``
        is handed to a person: no loop in the menu is endless."""
        started = self.started_at
        return started is not None and (
            (self.clock() - started).total_seconds() > self.tree.max_menu_s
        )

    def on_key(self, key: str) -> Action:
        """A key came. Anything outside the 16 DTMF symbols counts as invalid."""
        key = key[:1] if key else "?"
        self.keys += key if key in DTMF_KEYS else "?"
        if len(self.keys) > self.tree.max_keys:
            self._step(StepKind.INVALID, key=key, detail="too many keys")
            return self._default("too many keys")
        if self._out_of_time():
            self._step(StepKind.KEY, key=key, detail="after the time limit")
            return self._default("menu time limit")
        return self._choose(key, spoken=False)

    def on_speech(self, heard: Heard) -> Action:
        """The caller's answer was recognised (or not). An understood phrase acts as its key;
        silence falls back to keys; anything else is asked again once, then keys only."""
        self._step(StepKind.SPEECH, detail=describe(heard))
        if self._out_of_time():
            return self._default("menu time limit")
        match heard:
            case Understood(answer=answer):
                self.understood = True
                return self._choose(answer, spoken=True)
            case Silence():
                # nothing said: wait for a key now, and stop listening at this menu (a caller
                # who stays quiet uses the keypad; listening again would only add seconds)
                self.keys_only = True
                return Prompt(self.node, ())
            case NotUnderstood():
                self.speech_retries += 1
                if self.speech_retries > self.tree.max_speech_retries:
                    return Prompt(self.node, (self.tree.speech_keys_prompt, self._current.prompt))
                return self._offer(self.tree.speech_retry_prompt)
        raise AssertionError(f"unexpected recognition result {heard!r}")

    def _choose(self, key: str, spoken: bool) -> Action:
        """A key (pressed, or said: ``spoken`` steps carry no key) moves the caller."""
        pressed = None if spoken else key
        if key == REPLAY_KEY:
            self._step(StepKind.REPLAY, key=pressed)
            return self._offer()
        if key == BACK_KEY and self.node != self.tree.start:
            self._step(StepKind.BACK, key=pressed)
            self._enter(self.tree.start)
            return self._offer()
        option = self._current.options.get(key)
        if option is None:
            self._step(StepKind.INVALID, key=pressed)
            return self._retry(self.tree.invalid_prompt)
        self._step(StepKind.KEY, key=pressed, detail=option.goto or option.choice)
        if option.goto is not None:
            self._enter(option.goto)
            return self._offer()
        assert option.route is not None and option.choice is not None
        route = Route(option.route, option.choice, option.priority, by_default=False)
        self._step(StepKind.ROUTE, detail=route.queue)
        return route

    def on_timeout(self) -> Action:
        self._step(StepKind.TIMEOUT)
        self.timeouts += 1
        if self._out_of_time():
            return self._default("menu time limit")
        if self._silent_caller() and self.timeouts >= self.tree.silent_timeouts:
            return self._default("caller pressed nothing")
        return self._retry(self.tree.timeout_prompt)

    def _silent_caller(self) -> bool:
        """Nothing pressed, nothing understood, and the menu hands such callers over early."""
        return self.tree.silent_timeouts > 0 and not self.keys and not self.understood

    @property
    def _current(self) -> MenuNode:
        return self.tree.nodes[self.node]

    def _offer(self, *before: str) -> Prompt:
        """The current menu, after ``before``; listening too if this menu can and may."""
        node = self._current
        listen = (
            self.speech
            and node.grammar is not None
            and self.speech_retries <= self.tree.max_speech_retries
            and not self.keys_only
        )
        if not listen:
            return Prompt(self.node, (*before, node.prompt))
        hint = (node.speech_hint,) if node.speech_hint else ()
        return Prompt(self.node, (*before, *hint, node.prompt), node.grammar)

    def _enter(self, node: str) -> None:
        self.node = node
        self.retries = 0
        self.speech_retries = 0
        self.keys_only = False
        self.path.append(node)
        self._step(StepKind.PROMPT)

    def _retry(self, apology: str) -> Action:
        self.retries += 1
        if self.retries > self.tree.max_retries:
            return self._default("no valid key")
        return self._offer(apology)

    def _default(self, why: str) -> Route:
        self._step(StepKind.DEFAULT, detail=why)
        route = Route(self.tree.default_route, self.tree.default_choice, 0, by_default=True)
        self._step(StepKind.ROUTE, detail=route.queue)
        return route

    def _step(self, kind: StepKind, key: str | None = None, detail: str | None = None) -> None:
        self.steps.append(CallStep(self.clock(), kind, self.node, key, detail))
