"""A magic line ending in '?' is a question for the model, not IPython's help syntax."""

from __future__ import annotations

from typing import Any

import pytest


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
    assert f"You asked: *{question}*" in shown
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
