"""Hostile magic lines: every bad line is one clear line of output, never a traceback, and
nothing reaches the server.

Cells run through a real IPython shell (``run_cell``, so IPython's own transformers and its
``UsageError`` display take part) against the simulator on 127.0.0.1, which counts requests.
Text IPython could not compile (NUL, lone surrogates) reaches the magics the way users get it
there: through ``{variable}`` expansion in the magic line, or through ``run_cell_magic``.
"""

from __future__ import annotations

import builtins
import json
import keyword
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from IPython.core.error import UsageError

import nbimages
from nbimages.magics import magics_for

from _images import make_png


@dataclass
class Ran:
    error: BaseException | None
    shown: list[tuple[dict[str, Any], dict[str, Any]]]  # (data, metadata) of each display
    printed: str


@dataclass
class Lines:
    shell: Any
    simulator: Any
    capfd: Any

    def run(self, cell: str) -> Ran:
        from IPython.utils.capture import capture_output

        with capture_output() as captured:
            result = self.shell.run_cell(cell)
        out, err = self.capfd.readouterr()
        printed = captured.stdout + captured.stderr + out + err
        assert "Traceback" not in printed, printed
        return Ran(result.error_before_exec or result.error_in_exec,
                   [(o.data, o.metadata) for o in captured.outputs], printed)

    def requests(self) -> list[Any]:
        return self.simulator.requests

    @property
    def conversation(self) -> nbimages.Conversation:
        return magics_for(self.shell).conversation


@pytest.fixture
def nb(ipshell: Any, sim_server: Any, monkeypatch: pytest.MonkeyPatch, capfd: Any) -> Iterator[Lines]:
    from nbimages.conversation import set_current_conversation

    monkeypatch.setenv("OPENAI_BASE_URL", sim_server.url)
    monkeypatch.setenv("OPENAI_API_KEY", "sk-magic-lines-test-key")
    ipshell.config.pop("Imagine", None)
    set_current_conversation(None)
    capfd.readouterr()
    yield Lines(ipshell, sim_server.simulator, capfd)
    ipshell.config.pop("Imagine", None)


def usage_error(ran: Ran) -> str:
    """The one-line `UsageError` IPython showed; its message must print anywhere."""
    assert isinstance(ran.error, UsageError), repr(ran.error)
    message = str(ran.error)
    assert "\n" not in message and len(message) < 600, message
    message.encode("utf-8")  # no lone surrogate left to break a terminal or the kernel's JSON
    assert f"UsageError: {message}" in ran.printed
    assert ran.shown == []
    return message


def refused_input(ran: Ran) -> str:
    """The one line nbimages showed for an `InvalidInputError`."""
    assert ran.error is None, repr(ran.error)
    [(data, metadata)] = ran.shown
    assert metadata["nbimages"]["error"] == "InvalidInputError"
    text = data["text/plain"]
    assert "\n" not in text
    text.encode("utf-8")
    return text


# -- 9. text and parsing -------------------------------------------------------------------
QUOTE = "a quote (' or \") opens a text that never closes"


@pytest.mark.parametrize(("cell", "magic", "fragment"), [
    ('%imagine "a fox in the snow\n', "%imagine", QUOTE),
    ("%imagine 'twas the night before\n", "%imagine", QUOTE),
    ("%imagine --size '1024x1024 a fox\n", "%imagine", QUOTE),
    ('%%imagine --size "1024x1024\na fox\n', "%imagine", QUOTE),
    ("%describe 'photo.png what is it\n", "%describe", QUOTE),
    ("%imagine_undo '\n", "%imagine_undo", QUOTE),
    ('%imagine_history "\n', "%imagine_history", QUOTE),
    ("%imagine -n abc a fox\n", "%imagine", "argument -n: invalid int value: 'abc'"),
    ("%imagine -n 1.5 a fox\n", "%imagine", "argument -n: invalid int value: '1.5'"),
    ("%imagine --partial-images two a fox\n", "%imagine", "argument --partial-images: invalid int value"),
    ("%imagine --output-compression 1e3 a fox\n", "%imagine", "argument --output-compression: invalid int"),
    ("%imagine --size\n", "%imagine", "argument --size: expected one argument"),
    ("%imagine --edit\n", "%imagine", "argument --edit: expected at least one argument"),
    ("%imagine --bogus a fox\n", "%imagine", "unrecognized arguments: --bogus"),
    ("%imagine -h\n", "%imagine", "unrecognized arguments: -h"),
    ("%describe --detail extreme last\n", "%describe", "argument --detail: invalid choice: 'extreme'"),
    ("%describe\n", "%describe", "the following arguments are required: source"),
    ("%imagine_history --everything\n", "%imagine_history", "unrecognized arguments: --everything"),
    ("%imagine_undo 1 2\n", "%imagine_undo", "unrecognized arguments: 2"),
])
def test_a_bad_line_is_a_usage_error_naming_the_magic(nb: Lines, cell: str, magic: str, fragment: str) -> None:
    message = usage_error(nb.run(cell))
    assert message.startswith(f"{magic}: "), message
    assert fragment in message
    if QUOTE not in message:
        assert message.endswith(f"(the options: {magic}?)")
    assert nb.requests() == []


def test_a_number_too_long_for_int_is_a_short_usage_error(nb: Lines) -> None:
    digits = "7" * 5_000  # past int()'s digit limit
    message = usage_error(nb.run(f"%imagine -n {digits} a fox\n"))
    assert message.startswith("%imagine: argument -n: invalid int value: '7777")
    assert "…" in message
    assert nb.requests() == []


def test_text_in_a_parse_error_is_escaped(nb: Lines) -> None:
    nb.shell.user_ns["flag"] = "--bogus\ud800\x00"
    message = usage_error(nb.run("%imagine {flag} a fox\n"))
    assert "unrecognized arguments: --bogus\\ud800\\x00" in message
    assert nb.requests() == []


@pytest.mark.parametrize("magic", ["imagine", "describe"])
def test_a_line_longer_than_any_prompt_is_refused_before_it_is_split(nb: Lines, magic: str) -> None:
    # Called directly: IPython's own ``{variable}`` expansion of a line this long takes seconds.
    line = "last " + "a fox " * 8_000  # 48,005 characters
    started = time.perf_counter()
    with pytest.raises(UsageError) as raised:
        getattr(magics_for(nb.shell), magic)(line)
    assert time.perf_counter() - started < 1
    message = str(raised.value)
    assert message.startswith(f"%{magic}: the line is 48,005 characters long") and "32,000" in message
    assert nb.requests() == []


@pytest.mark.parametrize(("line", "text", "param"), [
    ("%imagine {text}", "a fox \ud800 in the snow", "prompt"),
    ("%imagine {text}", "a fox \x00 in the snow", "prompt"),
    ("%imagine {text}", "\udfff", "prompt"),
    ("%imagine --size {text} a fox", "1024x1024\x00", "size"),
    ("%imagine --size {text} a fox", "1024\ud800x1024", "size"),
    ("%imagine -m {text} a fox", "gpt-image\ud83d", "model"),
    ("%imagine --quality {text} a fox", "low\x00", "quality"),
    ("%imagine --edit {text} -- a fox", "http://example.test/\ud800.png", "image"),
    ("%imagine --mask {text} a fox", "mask\x00.png", "mask"),
    ("%describe last {text}", "what is \ud800 this", "question"),
    ("%describe {text} what is it", "http://example.test/\udc80.png", "image"),
    ("%describe -m {text} last", "gpt\x00", "model"),
])
def test_nul_and_lone_surrogates_are_refused_naming_the_parameter(nb: Lines, line: str, text: str,
                                                                  param: str) -> None:
    nb.shell.user_ns["text"] = text
    shown = refused_input(nb.run(line + "\n"))
    assert shown.startswith(f"nbimages: InvalidInputError: {param}=")
    assert "NUL characters or lone surrogates" in shown
    assert nb.requests() == []


@pytest.mark.parametrize("body", ["a fox \ud800 in the snow", "a fox\x00", "line one\nline \udbff two"])
def test_a_cell_body_with_nul_or_a_lone_surrogate_is_refused(nb: Lines, body: str) -> None:
    nb.shell.user_ns["body"] = body
    shown = refused_input(nb.run("get_ipython().run_cell_magic('imagine', '--quality low', body)\n"))
    assert shown.startswith("nbimages: InvalidInputError: prompt=")
    assert nb.requests() == []


def test_unicode_prompts_and_questions_go_through_unchanged(nb: Lines) -> None:
    ran = nb.run("%imagine --quality low 一只狐狸在雪中 🦊 — «été»\n")
    assert ran.error is None and nb.requests()[-1].json["prompt"] == "一只狐狸在雪中 🦊 — «été»"
    nb.shell.user_ns["pic"] = make_png((32, 32), (10, 200, 10))
    ran = nb.run("%describe pic ¿qué color es? 🎨\n")
    assert ran.error is None
    parts = nb.requests()[-1].json["input"][0]["content"]
    assert [p["text"] for p in parts if p["type"] == "input_text"] == ["¿qué color es? 🎨"]


# -- 7. names for -o -----------------------------------------------------------------------
NAMES = [
    ("print", "builtin"), ("list", "builtin"), ("id", "builtin"), ("display", "builtin"),
    ("class", "keyword"), ("None", "keyword"), ("lambda", "keyword"), ("match", "keyword"),
    ("__name__", "double underscores"), ("__builtins__", "double underscores"),
    ("In", "IPython"), ("Out", "IPython"), ("_", "IPython"), ("__", "IPython"), ("___", "IPython"),
    ("_i", "IPython"), ("_ii", "IPython"), ("_iii", "IPython"), ("_oh", "IPython"), ("_dh", "IPython"),
    ("_ih", "IPython"), ("_7", "IPython"), ("_i12", "IPython"), ("exit", "IPython"), ("quit", "IPython"),
    ("get_ipython", "IPython"), ("hidden_helper", "IPython"),
    ("js", "module json"), ("nbimages", "module nbimages"),
    ("2bad", "not a Python variable name"), ("my-pic", "not a Python variable name"),
    ("a.b", "not a Python variable name"),
]


def _good_name(name: str) -> bool:
    return (name.isidentifier() and not keyword.iskeyword(name) and not keyword.issoftkeyword(name)
            and not hasattr(builtins, name) and not name.startswith("_"))


@pytest.mark.parametrize("magic", ["%imagine -o {name} a fox", "%describe -o {name} last what is it"])
@pytest.mark.parametrize(("name", "why"), NAMES)
def test_o_refuses_names_that_would_break_later_cells(nb: Lines, magic: str, name: str, why: str) -> None:
    nb.shell.user_ns["js"] = json
    nb.shell.user_ns["nbimages"] = nbimages
    nb.shell.push({"hidden_helper": len}, interactive=False)  # as %pylab and startup code do
    before = dict(nb.shell.user_ns)
    message = usage_error(nb.run(magic.format(name=name) + "\n"))
    assert message.startswith(f"-o '{name}' is refused: ")
    assert why in message
    example = re.search(r"such as -o (\S+)$", message)
    assert example is not None and _good_name(example[1]), message
    assert example[1] not in nb.shell.user_ns
    for key in ("js", "nbimages", "In", "Out", "_oh", "exit", "get_ipython", "hidden_helper"):
        assert nb.shell.user_ns.get(key) is before.get(key), key
    assert name not in nb.shell.user_ns or nb.shell.user_ns[name] is before[name]
    assert nb.requests() == []


def test_o_binds_names_of_your_own_and_drops_quotes(nb: Lines) -> None:
    nb.shell.user_ns["np"] = 3  # a name that holds no module may be rebound
    for option, name in (("-o fox", "fox"), ("-o 'snow_fox'", "snow_fox"), ("--output np", "np")):
        ran = nb.run(f"%imagine --quality low {option} a fox\n")
        assert ran.error is None
        assert isinstance(nb.shell.user_ns[name], nbimages.Image), name
    ran = nb.run("%describe -o answer last\n")
    assert ran.error is None and isinstance(nb.shell.user_ns["answer"], str)


def test_the_help_states_the_rule_for_o(nb: Lines) -> None:
    for magic in ("%imagine?", "%describe?"):
        nb.shell.run_cell(magic + "\n")
        out, _ = nb.capfd.readouterr()
        text = " ".join(out.split())
        assert "a name of your own: not a Python keyword, a builtin" in text, magic
        assert "a name that holds a module" in text
    assert nb.requests() == []


# -- 6. %imagine_undo N -----------------------------------------------------------------------
def _three_turns(nb: Lines) -> list[Any]:
    from nbimages.inputs import to_image

    conv = nb.conversation
    for k, color in enumerate(((200, 0, 0), (0, 200, 0), (0, 0, 200))):
        conv.add(f"turn {k}", to_image(make_png((32, 32), color)))
    return conv.turns


@pytest.mark.parametrize("steps", ["abc", "-5", "0", "-0", "10**9", "1.5", "1e9", "two", "9" * 5_000])
def test_undo_refuses_steps_that_are_not_a_positive_whole_number(nb: Lines, steps: str) -> None:
    turns = _three_turns(nb)
    message = usage_error(nb.run(f"%imagine_undo {steps}\n"))
    assert message.startswith("%imagine_undo: argument N: expected a whole number of turns to go back")
    assert nb.conversation.head is turns[-1]
    assert nb.requests() == []


@pytest.mark.parametrize("steps", ["3", "4", "1000000", "99999999999999999999"])
def test_undo_stops_at_the_first_turn_whatever_n_is(nb: Lines, monkeypatch: pytest.MonkeyPatch,
                                                    steps: str) -> None:
    _three_turns(nb)
    conv = nb.conversation
    calls = []
    undo = conv.undo

    def counted() -> Any:
        calls.append(1)
        return undo()

    monkeypatch.setattr(conv, "undo", counted)
    started = time.perf_counter()
    ran = nb.run(f"%imagine_undo {steps}\n")
    assert time.perf_counter() - started < 2
    assert ran.error is None and conv.head is None
    assert len(calls) == 3  # as many as there were turns, not N
    [(data, _)] = ran.shown
    assert "Back at the start" in data["text/plain"]


def test_undo_by_fewer_steps_than_turns_lands_on_that_turn(nb: Lines) -> None:
    turns = _three_turns(nb)
    ran = nb.run("%imagine_undo 2\n")
    assert ran.error is None and nb.conversation.head is turns[0]
    [(data, _)] = ran.shown
    assert "now at turn 1" in data["text/plain"]
