"""The menu engine: walking the packaged 95598 tree, and rejecting broken trees."""

from __future__ import annotations

import copy
import tomllib
from datetime import UTC, datetime, timedelta
from importlib import resources

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ivr.domain.calls import StepKind
from ivr.domain.menu import MenuError, MenuSession, MenuTree, Prompt, Route
from ivr.menu_file import load_menu

RAW = tomllib.loads(resources.files("ivr.data").joinpath("menu_95598.toml").read_text("utf-8"))


def clock() -> datetime:
    return datetime(2026, 11, 22, 8, 0, tzinfo=UTC)


@pytest.fixture
def tree() -> MenuTree:
    return load_menu()


def walk(tree: MenuTree, keys: list[str | None]) -> tuple[MenuSession, object]:
    session = MenuSession(tree, clock)
    action: object = session.start()
    for key in keys:
        assert isinstance(action, Prompt), f"already routed before {key!r}"
        action = session.on_key(key) if key is not None else session.on_timeout()
    return session, action


@pytest.mark.parametrize(
    ("keys", "queue", "choice"),
    [
        ("11", "q-repair", "repair.no_power"),
        ("12", "q-repair", "repair.area_outage"),
        ("21", "q-billing", "billing.bill"),
        ("24", "q-billing", "billing.progress"),
        ("31", "q-business", "business.new_connection"),
        ("41", "q-complaint", "complaint.complaint"),
        ("42", "q-complaint", "complaint.report"),
        ("0", "q-general", "agent"),
    ],
)
def test_each_route(tree: MenuTree, keys: str, queue: str, choice: str) -> None:
    session, action = walk(tree, list(keys))
    assert action == Route(queue, choice, 0, by_default=False)
    assert session.keys == keys


def test_hazard_is_prioritised(tree: MenuTree) -> None:
    _, action = walk(tree, ["1", "3"])
    assert isinstance(action, Route) and action.priority == 10


def test_start_plays_greeting_then_main_menu(tree: MenuTree) -> None:
    action = MenuSession(tree, clock).start()
    assert action.texts == (tree.greeting, tree.nodes["main"].prompt)


def test_a_caller_who_presses_nothing_reaches_an_agent_after_one_menu(tree: MenuTree) -> None:
    session, action = walk(tree, [None])
    assert action == Route("q-general", "agent.default", 0, by_default=True)
    kinds = [s.kind for s in session.steps]
    assert kinds == [StepKind.PROMPT, StepKind.TIMEOUT, StepKind.DEFAULT, StepKind.ROUTE]
    assert session.steps[-2].detail == "caller pressed nothing"


def test_a_caller_who_pressed_a_key_gets_the_retries(tree: MenuTree) -> None:
    session, action = walk(tree, ["1", None])
    assert isinstance(action, Prompt)
    assert action.texts == (tree.timeout_prompt, tree.nodes["repair"].prompt)
    session.on_timeout()
    assert session.on_timeout() == Route("q-general", "agent.default", 0, by_default=True)


def test_timeouts_retry_then_route_to_default() -> None:
    raw = copy.deepcopy(RAW)
    raw["menu"]["silent_timeouts"] = 0  # off: silence is forgiven max_retries times
    tree = MenuTree.from_dict(raw)
    session, action = walk(tree, [None, None])
    assert isinstance(action, Prompt)
    assert action.texts == (tree.timeout_prompt, tree.nodes["main"].prompt)
    action = session.on_timeout()
    assert action == Route("q-general", "agent.default", 0, by_default=True)
    kinds = [s.kind for s in session.steps]
    assert kinds == [StepKind.PROMPT, *[StepKind.TIMEOUT] * 3, StepKind.DEFAULT, StepKind.ROUTE]


def test_invalid_key_apologises_and_allows_a_valid_one(tree: MenuTree) -> None:
    _, action = walk(tree, ["9"])
    assert isinstance(action, Prompt) and action.texts[0] == tree.invalid_prompt
    _, action = walk(tree, ["9", "2", "1"])
    assert action == Route("q-billing", "billing.bill", 0, by_default=False)


def test_retries_count_per_menu(tree: MenuTree) -> None:
    # two misses in the main menu, then a sub-menu: its own two misses are forgiven again
    _, action = walk(tree, ["9", None, "1", "9", None])
    assert isinstance(action, Prompt)
    _, action = walk(tree, ["9", None, "1", "9", None, "8"])
    assert isinstance(action, Route) and action.by_default


def test_star_replays_without_using_a_retry(tree: MenuTree) -> None:
    session, action = walk(tree, ["1", "*", "*", "*"])
    assert action == Prompt("repair", (tree.nodes["repair"].prompt,))
    assert session.retries == 0
    assert [s.kind for s in session.steps].count(StepKind.REPLAY) == 3


def test_hash_goes_back_to_main_but_not_beyond(tree: MenuTree) -> None:
    session, action = walk(tree, ["2", "#"])
    assert action == Prompt("main", (tree.nodes["main"].prompt,))
    assert session.path == ["main", "billing", "main"]
    _, action = walk(tree, ["#"])  # '#' in the main menu is just a wrong key
    assert isinstance(action, Prompt) and action.texts[0] == tree.invalid_prompt


def test_endless_keys_end_at_an_agent(tree: MenuTree) -> None:
    _, action = walk(tree, ["*"] * tree.max_keys + ["*"])
    assert action == Route("q-general", "agent.default", 0, by_default=True)


def test_a_caller_who_keeps_the_menu_going_is_handed_over_at_the_time_limit(
    tree: MenuTree,
) -> None:
    """A replay (``*``) every 20 s stays under the key cap but not under the time cap."""
    now = [datetime(2026, 11, 22, 8, 0, tzinfo=UTC)]
    session = MenuSession(tree, lambda: now[0])
    action: object = session.start()
    pressed = 0
    while isinstance(action, Prompt):
        now[0] += timedelta(seconds=20)
        action = session.on_key("*")
        pressed += 1
    assert action == Route("q-general", "agent.default", 0, by_default=True)
    assert pressed == int(tree.max_menu_s // 20) + 1 < tree.max_keys
    assert session.steps[-2].kind is StepKind.DEFAULT
    assert session.steps[-2].detail == "menu time limit"


def test_silence_is_forgiven_twice_then_the_record_says_why(tree: MenuTree) -> None:
    session, action = walk(tree, ["9", None, None])
    assert action == Route("q-general", "agent.default", 0, by_default=True)
    defaults = [s for s in session.steps if s.kind is StepKind.DEFAULT]
    assert [s.detail for s in defaults] == ["no valid key"]


@given(st.lists(st.one_of(st.none(), st.text(max_size=3)), max_size=80))
def test_any_input_ends_in_a_known_queue(keys: list[str | None]) -> None:
    """Hostile DTMF: whatever arrives, the session stays bounded and routes to a real queue."""
    tree = load_menu()
    session = MenuSession(tree, clock)
    action: object = session.start()
    for key in keys:
        if isinstance(action, Route):
            break
        action = session.on_key(key) if key is not None else session.on_timeout()
    while isinstance(action, Prompt):
        action = session.on_timeout()
    assert isinstance(action, Route) and action.queue in tree.queues()
    assert len(session.keys) <= tree.max_keys + 1
    assert set(session.keys) <= set("0123456789*#?")


def test_prompt_texts_cover_every_menu(tree: MenuTree) -> None:
    texts = tree.prompt_texts()
    assert tree.greeting in texts and all(n.prompt in texts for n in tree.nodes.values())


def broken(mutate) -> dict:  # type: ignore[no-untyped-def]
    raw = copy.deepcopy(RAW)
    mutate(raw)
    return raw


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda r: r["menu"].update(start="nowhere"), "unknown node"),
        (lambda r: r["nodes"]["main"]["keys"].update({"5": {"goto": "nope"}}), "unknown node"),
        (lambda r: r["nodes"]["main"]["keys"].update({"*": {"goto": "repair"}}), "replays"),
        (lambda r: r["nodes"]["main"]["keys"].update({"55": {"goto": "repair"}}), "a key is"),
        (
            lambda r: r["nodes"]["main"]["keys"].update({"5": {"route": "q x", "choice": "a"}}),
            "queue name",
        ),
        (lambda r: r["nodes"]["main"]["keys"].update({"5": {"route": "q-x"}}), "choice id"),
        (lambda r: r["nodes"]["main"]["keys"].update({"5": {}}), "exactly one"),
        (
            lambda r: r["nodes"]["main"]["keys"].update({"5": {"goto": "repair", "x": 1}}),
            "unknown fields",
        ),
        (lambda r: r["nodes"]["main"]["keys"].pop("4"), "never reached"),
        (lambda r: r["menu"].update(max_retries=-1), "max_retries"),
        (lambda r: r["menu"].update(digit_timeout_s="5"), "digit_timeout_s"),
        (lambda r: r["nodes"]["repair"].update(prompt=""), "prompt"),
        (lambda r: r["nodes"]["repair"].update(keys={}), "at least one key"),
        (lambda r: r.pop("nodes"), "nodes"),
    ],
)
def test_broken_trees_are_refused_with_the_place(mutate, message: str) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(MenuError, match=message):
        MenuTree.from_dict(broken(mutate))


def test_bad_toml_names_the_file(tmp_path) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "menu.toml"
    path.write_text("[menu\nstart=", encoding="utf-8")
    with pytest.raises(MenuError, match=r"menu\.toml: not valid TOML"):
        load_menu(path)
