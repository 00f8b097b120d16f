"""The exec box runs on Enter (the frontend's "submit" message), as it does on its run button."""

from __future__ import annotations

from tests.test_widgets_panels import wait_for


def test_enter_in_the_command_box_runs_it(emulator_session, closing):
    from spheron_jupyter.notebook.widgets.execbox import ExecBox

    session = emulator_session
    session.launch(session.plan_launch(gpu="rtx-4090", name="enter-box"))
    box = ExecBox(session, "enter-box")
    closing(box)
    box.command.value = "echo pressed-enter"
    # What ipywidgets' TextView sends on Enter (widget_string.py's Text handles "submit").
    box.command._handle_custom_msg({"event": "submit"}, [])
    wait_for(lambda: box.exit_code is not None, timeout=60, what="the command to run")
    assert box.exit_code == 0 and "pressed-enter" in box.text
    box.command._handle_custom_msg({"event": "something-else"}, [])  # only Enter runs it
    assert box.wait_idle(10)
