"""Static views of widget outputs, for readers whose viewer runs no kernel and no JavaScript.

A widget output stores only a reference to a model (`application/vnd.jupyter.widget-view+json`);
what it showed lives in the notebook's widget state. GitHub, nbviewer with scripts off, Colab
before running and nbconvert's HTML without network show nothing for it. `without_widgets` swaps
every widget output for what it showed when the notebook ran:
- a widget holding `Output` widgets (the sweep explorer) becomes a one-line note followed by the
  outputs they held (its text, and its figure with plotly's JSON and the PNG beside it);
- any other widget (tqdm's progress bar) becomes its text in its last state, e.g.
  `dataset sizes: 100%|██████████| 4/4 [00:31<00:00, 7.80s/it]`.
The widget state is then dropped from the metadata: no output refers to it any more.
"""

from __future__ import annotations

import html

import nbformat

WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"
WIDGET_STATE = "application/vnd.jupyter.widget-state+json"
NOTE_HTML = (
    "<p><em>Static view of an interactive widget: what it showed when the notebook ran. Run the "
    "cell in Jupyter or Colab to use it.</em></p>"
)
NOTE_TEXT = (
    "Static view of an interactive widget: what it showed when the notebook ran. Run the cell "
    "in Jupyter or Colab to use it."
)
BAR_WIDTH = 10
"""Characters in a progress bar drawn as text (tqdm's own width for a bar in a notebook log)."""


def _model(state: dict, reference: str) -> dict | None:
    """The model a child reference (`IPY_MODEL_<id>`) or a bare model id points to."""
    return state.get(reference.removeprefix("IPY_MODEL_"))


def widget_outputs(state: dict, model_id: str) -> list[dict]:
    """The outputs held by every `Output` widget in the widget tree under `model_id`."""
    model = _model(state, model_id)
    if model is None:
        return []
    if model["model_name"] == "OutputModel":
        return list(model["state"].get("outputs", []))
    children = model["state"].get("children", [])
    return [out for child in children for out in widget_outputs(state, child)]


def widget_text(state: dict, model_id: str) -> str:
    """The text a widget tree shows: its HTML and label values, with progress bars drawn as
    `|███   |`, in the order a front end lays them out."""
    model = _model(state, model_id)
    if model is None:
        return ""
    values = model["state"]
    name = model["model_name"]
    if name in ("HTMLModel", "LabelModel"):  # tqdm pads with figure spaces (U+2007) in HTML
        return html.unescape(values.get("value", "")).replace("\u2007", " ")
    if name in ("FloatProgressModel", "IntProgressModel"):
        low, high = values.get("min", 0), values.get("max", 1)
        share = 0.0 if high == low else (values.get("value", low) - low) / (high - low)
        filled = round(BAR_WIDTH * min(max(share, 0.0), 1.0))
        return "|" + "█" * filled + " " * (BAR_WIDTH - filled) + "|"
    return "".join(widget_text(state, child) for child in values.get("children", []))


def static_outputs(output: dict, state: dict) -> list[dict]:
    """What replaces one output: a widget becomes its static view, anything else stays."""
    data = output.get("data", {})
    if WIDGET_VIEW not in data:
        return [output]
    model_id = data[WIDGET_VIEW]["model_id"]
    held = widget_outputs(state, model_id)
    if held:
        note = nbformat.v4.new_output(
            "display_data", data={"text/html": NOTE_HTML, "text/plain": NOTE_TEXT}
        )
        return [note, *(nbformat.from_dict(o) for o in held)]
    text = widget_text(state, model_id).strip()
    if not text:
        plain = {k: v for k, v in data.items() if k != WIDGET_VIEW}
        return [nbformat.from_dict({**output, "data": plain})] if plain else []
    return [nbformat.v4.new_output("display_data", data={"text/plain": text})]


def without_widgets(notebook: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """`notebook` (changed in place) with every widget output replaced by its static view and
    the widget state removed from the metadata."""
    state = notebook.metadata.pop("widgets", {}).get(WIDGET_STATE, {}).get("state", {})
    for cell in notebook.cells:
        if cell.cell_type == "code":
            cell.outputs = [new for out in cell.outputs for new in static_outputs(out, state)]
    return notebook
