"""interp.viz: offline CircuitsVis attention views, built from our own captured patterns."""

from __future__ import annotations

import json
import re
import socket
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest
import torch

import interp
from interp import viz

TEXT = "the cat sat on the mat"
NAME = "blocks.0.attn.hook_pattern"
URL = re.compile(r"https?://[^\s\"'<>()]+")


@pytest.fixture(scope="module")
def circuitsvis():
    return pytest.importorskip("circuitsvis", reason="pip install 'interp[viz]'")


@pytest.fixture(scope="module")
def model():
    return interp.load_model("suite/pythia-s1")


@pytest.fixture(scope="module")
def view(circuitsvis, model):
    return viz.attention_heads(model, TEXT, layer=0)


def props(view: viz.AttentionView) -> dict:
    """The props the page hands to CircuitsVis.render (the JSON after the component name)."""
    text = view.html
    start = text.index("{", text.rindex("CircuitsVis.AttentionHeads,"))
    return json.JSONDecoder().raw_decode(text, start)[0]


@pytest.fixture
def no_network(monkeypatch):
    """Every way out raises (and is recorded): socket connects and urllib's urlopen."""
    tried = []

    def refuse(*args, **kwargs):
        tried.append(args[:2])
        raise OSError("network disabled by the test")

    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket.socket, "connect_ex", refuse)
    monkeypatch.setattr(urllib.request, "urlopen", refuse)
    return tried


def test_view_loads_no_remote_script(view, circuitsvis):
    html = view.html
    assert not re.search(r"<script[^>]*\bsrc\s*=", html, re.I), "a <script src=...> in the view"
    assert not re.search(r"""import[^;]*from\s*["']https?:""", html), "an ES import from a URL"
    remote = [u for u in URL.findall(html) if re.search(r"unpkg|jsdelivr|cdn", u, re.I)]
    assert remote == [], f"CDN URLs in the view: {remote}"
    assert "unpkg" not in html and "jsdelivr" not in html
    # The CDN version is what circuitsvis's str() gives: the test above would catch it.
    assert "unpkg.com" in str(circuitsvis.attention.attention_heads([[[1.0]]], ["a"]))


def test_view_inlines_the_bundled_script(view, circuitsvis):
    bundled = (Path(circuitsvis.__file__).parent / "dist" / "cdn" / "iife.js").read_text("utf-8")
    assert bundled.replace("</script>", "")[:5000] in view.html
    size = len(view.html.encode("utf-8"))
    assert 1e6 < size < 2.5e6, f"{size} bytes"
    assert size - len(bundled.encode("utf-8")) < 20_000, "the six-token props should be small"


def test_view_holds_the_model_tokens_and_patterns(view, model):
    tokens = model.tokenizer(TEXT, return_tensors="pt").input_ids
    labels = model.to_str_tokens(tokens)
    assert view.tokens == labels == props(view)["tokens"]
    for label in labels:
        assert json.dumps(label).replace("<", "\\u003c").replace(">", "\\u003e") in view.html
    assert '"the"' in view.html and '"cat"' in view.html
    _, cache = model.run_with_cache(tokens)
    expected = cache[NAME][0]
    drawn = torch.tensor(props(view)["attention"], dtype=expected.dtype)
    assert drawn.shape == expected.shape == (model.cfg.n_heads, len(labels), len(labels))
    torch.testing.assert_close(drawn, expected, atol=10 ** -viz.DECIMALS, rtol=0)
    assert props(view)["attentionHeadNames"] == ["L0H0", "L0H1"]
    assert props(view)["maskUpperTri"] is True


def test_rendering_and_display_touch_no_network(no_network, circuitsvis, model, tmp_path):
    fresh = viz.attention_heads(model, TEXT, layer=0)
    shown = fresh._repr_html_()
    page = fresh.save(tmp_path / "layer0.html").read_text("utf-8")
    assert shown == fresh.html and fresh.html in page and page.startswith("<!DOCTYPE html>")
    assert no_network == [], f"viz tried the network: {no_network}"
    # The control: circuitsvis's own object does probe, and serves the local HTML when it fails.
    theirs = circuitsvis.attention.attention_heads([[[1.0]]], ["a"])
    assert theirs._repr_html_() == theirs.local_src
    assert no_network, "the patch did not see circuitsvis's probe: the test proves nothing"


def test_a_cache_a_capture_store_and_a_plain_hf_model_draw_the_same(view, model):
    tokens = model.tokenizer(TEXT, return_tensors="pt").input_ids
    _, cache = model.run_with_cache(tokens)
    from_cache = viz.attention_heads(cache, tokens, layer=0)
    from_store = viz.attention_heads({NAME: cache[NAME]}, view.tokens, layer=0)
    from_hf = viz.attention_heads(interp.load_hf_model("suite/pythia-s1"), TEXT, layer=0)
    for other in (from_cache, from_store, from_hf):
        assert props(other) == props(view)


def test_heads_select_and_bad_arguments_say_what_is_wrong(view, model):
    one = viz.attention_heads(model, TEXT, layer=0, heads=[1])
    assert one.heads == [1] and props(one)["attention"] == props(view)["attention"][1:]
    assert props(one)["attentionHeadNames"] == ["L0H1"]
    with pytest.raises(ValueError, match="layers 0..0"):
        viz.attention_heads(model, TEXT, layer=1)
    with pytest.raises(ValueError, match="subset of 0..1"):
        viz.attention_heads(model, TEXT, layer=0, heads=[2])
    with pytest.raises(ValueError, match="2 token strings for a pattern over 6"):
        viz.attention_heads({NAME: torch.full((1, 2, 6, 6), 1 / 6)}, ["a", "b"], layer=0)
    with pytest.raises(KeyError, match="blocks.3.attn.hook_pattern"):
        viz.attention_heads({NAME: torch.ones(1, 2, 1, 1)}, ["a"], layer=3)
    with pytest.raises(TypeError, match="token strings"):
        viz.attention_heads({NAME: torch.ones(1, 2, 1, 1)}, torch.tensor([[5]]), layer=0)


def test_tokens_cannot_break_out_of_the_inline_script(circuitsvis):
    labels = ["</script>", "<!--", "a & b", "<img src=x onerror=alert(1)>"]
    n = len(labels)
    pattern = torch.tril(torch.ones(1, 1, n, n)) / torch.arange(1, n + 1).view(1, 1, n, 1)
    shown = viz.attention_heads({NAME: pattern}, labels, layer=0)
    assert shown.html.count("</script>") == 1 and shown.html.rstrip().endswith("</script>")
    assert "<!--" not in shown.html and "<img" not in shown.html
    assert props(shown)["tokens"] == labels


def test_missing_circuitsvis_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "circuitsvis", None)
    monkeypatch.setitem(sys.modules, "circuitsvis.attention", None)
    with pytest.raises(ImportError) as raised:
        viz.attention_heads({NAME: torch.ones(1, 1, 1, 1)}, ["a"], layer=0)
    message = str(raised.value)
    assert message == viz.INSTALL_HINT and "\n" not in message
    assert "pip install 'interp[viz]'" in message


def test_importing_interp_and_viz_does_not_import_circuitsvis():
    code = "import sys, interp, interp.viz; print('circuitsvis' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
