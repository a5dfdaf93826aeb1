"""A new overlay is one class and one line: registered, the window makes it, draws it, shows it and lists its legend
rows, without any change to the window. And the exported figure plots the wire result's own maps."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pytest

from aistem.core.protocol import Result, decode
from aistem.gui import layers
from aistem.gui.layers import DrawSettings, Layer, LegendRow, Panels, register_layer
from tests.gui.conftest import bicrystal_result_arrays, frame_message, result_message


class WindowCountLayer(Layer):
    """A tiny overlay: a text on the main panel with the number of windows, and one legend row."""

    name = "window-count"
    z = 4.0

    def __init__(self, panels: Panels) -> None:
        import pyqtgraph as pg

        super().__init__(panels)
        self.text = self.add(panels.main, pg.TextItem(""))
        self.drawn = 0

    def draw(self, result: Result, settings: DrawSettings) -> None:
        self.text.setText(f"{result.classes.size} windows")
        self.drawn += 1

    def legend_rows(self, result: Result, settings: DrawSettings) -> list[LegendRow]:
        return [(None, f"{result.classes.size} windows")]


@pytest.fixture
def registry() -> Iterator[None]:
    before = list(layers.LAYERS)
    yield
    layers.LAYERS[:] = before


@pytest.fixture
def make_window(qapp):
    made = []

    def make():
        from aistem.gui.window import ViewerWindow

        w = ViewerWindow(None)
        w.resize(900, 600)
        w.show()
        qapp.processEvents()
        made.append(w)
        return w

    yield make
    for w in made:
        w.close()
        w.deleteLater()
    qapp.processEvents()


def test_a_registered_overlay_is_made_drawn_shown_and_listed(registry, make_window, qapp):
    register_layer(WindowCountLayer)  # the one line
    window = make_window()
    layer = window.layers["window-count"]
    assert isinstance(layer, WindowCountLayer) and layer.text in window.plot.items
    r = decode(result_message(0))
    window.show_result(r, decode(frame_message(0)))
    qapp.processEvents()
    assert layer.drawn == 1 and layer.text.toPlainText() == f"{r.classes.size} windows"
    assert layer.text.isVisible()
    assert f"{r.classes.size} windows" in window.legend.texts
    window.overlay_box.setCurrentText("none")  # no overlays: its items hide with the others
    qapp.processEvents()
    assert not layer.text.isVisible()


def test_register_refuses_a_second_overlay_of_the_same_name(registry):
    class Other(WindowCountLayer):
        pass

    assert register_layer(WindowCountLayer) is WindowCountLayer
    register_layer(WindowCountLayer)  # twice the same class: once in the list
    assert layers.LAYERS.count(WindowCountLayer) == 1
    with pytest.raises(ValueError, match="window-count"):
        register_layer(Other)


def test_the_figure_plots_the_wire_maps_themselves():
    from aistem.gui.export import figure_maps

    r = decode(result_message(0))
    maps = figure_maps(r, None, 0.2)
    assert maps.classes is r.classes or np.shares_memory(maps.classes, r.classes)  # no copy, no conversion
    assert maps.mutual_information is r.mutual_information
    assert maps.threshold == 0.2
    np.testing.assert_array_equal(maps.interface, r.mutual_information > 0.2)
    assert maps.origins_px.shape == (*r.grid, 2) and tuple(maps.origins_px[-1, -1]) == (
        r.origins[0] + (r.grid[0] - 1) * r.stride_px,
        r.origins[1] + (r.grid[1] - 1) * r.stride_px,
    )


def test_a_result_without_mi_gives_a_figure_without_an_mi_panel(tmp_path):
    from aistem.core.figures import plot_result
    from aistem.gui.export import figure_maps

    a = bicrystal_result_arrays()
    del a["mutual_information"]
    r = decode(result_message(0, arrays=a))
    assert r.mutual_information is None
    fig = plot_result(figure_maps(r, None, 0.1), None)
    titles = [ax.get_title() for ax in fig.axes]
    assert any(t.startswith("(b) class") for t in titles) and not any("MI:" in t for t in titles)
