"""A magic line ending in '?' is a question for the model, not IPython's help syntax."""

from __future__ import annotations

from typing import Any

import pytest

from nbimages.client import _local_simulator


def _answers(shell: Any, cell: str) -> list[str]:
    """Run ``cell`` as a notebook would (through the input transformers); the text shown."""
    from IPython.utils.capture import capture_output

    with capture_output() as captured:
        result = shell.run_cell(cell)
    assert result.error_in_exec is None and result.error_before_exec is None
    return [out.data.get("text/plain", "") for out in captured.outputs] + [captured.stdout]


@pytest.mark.parametrize("question", ["what colours are in it?", "is it bright ??", "why?"])
def test_describe_question_ending_in_question_mark_reaches_the_model(ipshell: Any, png: Any, question: str) -> None:
    ipshell.user_ns["pic"] = png((64, 48), (200, 20, 20))
    shown = "\n".join(_answers(ipshell, f"%describe pic {question}"))
    assert "not found" not in shown, "IPython took the line for a help request"
    assert f"You asked: {question}" in shown
    [asked] = [p["text"] for p in _local_simulator().requests[-1].json["input"][0]["content"] if p["type"] == "input_text"]
    assert asked == question
    assert "64 × 48 pixels" in shown


def test_help_on_the_magic_itself_still_works(ipshell: Any) -> None:
    from nbimages.magics import _keep_question_marks

    for line in ("%describe?", "%describe??", "%imagine?"):
        assert _keep_question_marks([line + "\n"]) == [line + "\n"]


def test_only_line_magics_outside_cell_magics_are_rewritten() -> None:
    from nbimages.magics import _keep_question_marks

    body = ["%%imagine\n", "%describe last what is it?\n"]
    assert _keep_question_marks(body) == body
    code = ["x = 1\n", "  %describe last what is it?\n", "y = 'a?'\n"]
    assert _keep_question_marks(code) == [
        "x = 1\n", "  get_ipython().run_line_magic('describe', 'last what is it?')\n", "y = 'a?'\n"]


def test_unloading_removes_the_transformer(ipshell: Any) -> None:
    from nbimages.magics import _keep_question_marks

    assert ipshell.input_transformers_cleanup.count(_keep_question_marks) == 1
    ipshell.run_line_magic("load_ext", "nbimages")  # already loaded: no second copy
    assert ipshell.input_transformers_cleanup.count(_keep_question_marks) == 1
    ipshell.run_line_magic("unload_ext", "nbimages")
    assert _keep_question_marks not in ipshell.input_transformers_cleanup
    ipshell.run_line_magic("load_ext", "nbimages")
    assert ipshell.input_transformers_cleanup.count(_keep_question_marks) == 1


# -- only a line that begins a statement is a magic ------------------------------------------
def _lines(cell: str) -> list[str]:
    return cell.splitlines(keepends=True)


@pytest.mark.parametrize("cell", [
    'x = "%describe a.png what?"\n',
    "# %describe a.png what?\n",
    's = """\n%describe a.png what?\n"""\n',
    "s = r'''\n  %imagine a fox, why not?\n'''\n",
    'def f():\n    """\n    %describe a.png what?\n    """\n',
    "f(\n%describe a.png what?\n)\n",
    "items = [\n    1,\n    %describe a.png what?\n]\n",
    "x = 1 + \\\n%describe a.png what?\n",
    's = """never closed\n%describe a.png what?\n',
])
def test_describe_text_inside_strings_comments_or_brackets_is_left_as_written(cell: str) -> None:
    from nbimages.magics import _keep_question_marks

    assert _keep_question_marks(_lines(cell)) == _lines(cell)


@pytest.mark.parametrize("cell", [
    's = """\n%describe pic what colour is it?\n"""\n',
    "s = '''%describe pic what?\n  %imagine a fox?\n'''\n",
    's = ("%describe pic "\n     "what?")\n',
])
def test_a_string_that_quotes_a_magic_keeps_its_text_in_a_real_shell(ipshell: Any, png: Any, cell: str) -> None:
    from IPython.utils.capture import capture_output

    ipshell.user_ns["pic"] = png((16, 16), (0, 0, 255))
    expected: dict[str, Any] = {}
    exec(cell, {}, expected)  # what plain Python makes of it
    with capture_output() as captured:
        result = ipshell.run_cell(cell)
    assert result.error_in_exec is None and result.error_before_exec is None
    assert ipshell.user_ns["s"] == expected["s"]
    assert captured.outputs == [] and "asking" not in captured.stdout  # the magic never ran


def test_a_magic_inside_a_block_after_a_docstring_that_quotes_one_is_rewritten() -> None:
    from nbimages.magics import _keep_question_marks

    cell = 'def ask():\n    """\n    %describe a.png what?\n    """\n    %describe pic what is it?\n'
    out = _keep_question_marks(_lines(cell))
    assert out[:4] == _lines(cell)[:4]
    assert out[4] == "    get_ipython().run_line_magic('describe', 'pic what is it?')\n"


def test_a_magic_whose_text_opens_a_string_does_not_hide_the_next_magic() -> None:
    from nbimages.magics import _keep_question_marks

    cell = '%describe a.png is """this""" a """quote?\n%describe b.png and this?\n'
    assert _keep_question_marks(_lines(cell)) == [
        "get_ipython().run_line_magic('describe', 'a.png is \"\"\"this\"\"\" a \"\"\"quote?')\n",
        "get_ipython().run_line_magic('describe', 'b.png and this?')\n",
    ]


@pytest.mark.parametrize("cell", [
    "if x:\n        y = 1\n    %describe a.png what?\n",  # a dedent to no outer level
    "%describe a\x00.png what?\n",
    "%describe a\ud800.png what?\n",
    "x = '\x00'\n%describe a.png what?\n",
    "%describe a.png what?\r\n%imagine a fox, why?\r\n",
    "%describe " + "? " * 50_000 + "x\n",
    "x = 1\n" * 5_000 + "%describe a.png what?\n",
    "%describe a.png (what?\n%describe b.png [and?\n",
])
def test_the_transformer_never_raises_on_hostile_cells(cell: str) -> None:
    import time

    from nbimages.magics import _keep_question_marks

    started = time.perf_counter()
    out = _keep_question_marks(_lines(cell))
    assert time.perf_counter() - started < 1
    assert len(out) == len(_lines(cell)) and all(isinstance(line, str) for line in out)
    for before, after in zip(_lines(cell), out):
        assert after == before or after.lstrip().startswith("get_ipython().run_line_magic(")
