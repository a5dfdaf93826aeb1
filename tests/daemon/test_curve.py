"""CURVE on: encrypted frames in, results out only to clients with an authorized key; everyone else gets nothing."""

from __future__ import annotations

import shutil
import time

import pytest

from aistem.daemon.curve import create_keys, load_public, load_secret
from aistem.daemon.sources.client import request

from .conftest import Listener, Source, fast_settings, sync


@pytest.fixture(scope="module")
def keys(tmp_path_factory):
    d = tmp_path_factory.mktemp("keys")
    k = {name: create_keys(d / "all", name) for name in ("daemon", "microscope", "viewer", "intruder")}
    viewers = d / "viewers"  # who may read results and send control requests
    viewers.mkdir()
    shutil.copy(k["viewer"][0], viewers)
    daemons = d / "daemons"  # who may take frames from the microscope
    daemons.mkdir()
    shutil.copy(k["daemon"][0], daemons)
    return k, viewers, daemons


def test_certificates_are_made_and_loaded(keys):
    k, _, _ = keys
    public, secret = k["viewer"]
    assert len(load_public(public)) == 40 and load_secret(secret)[0] == load_public(public)
    assert secret.stat().st_mode & 0o077 == 0
    with pytest.raises(ValueError, match="secret"):
        load_secret(public)
    with pytest.raises(FileNotFoundError):
        load_public(public.with_name("nobody.key"))


def test_curve_results_reach_only_authorized_clients(reference_model, frames, keys):
    from aistem.daemon.server import Daemon

    k, viewers, daemons = keys
    source = Source(curve_secret_key=k["microscope"][1], curve_authorized_keys=daemons)
    s = fast_settings(source.endpoint)
    s.curve.enabled = True
    s.curve.secret_key = str(k["daemon"][1])
    s.curve.authorized_keys = str(viewers)
    s.curve.frames_public_key = str(k["microscope"][0])
    d = Daemon(s, reference_model)
    thread = d.serve_in_thread()
    viewer = {"curve_secret_key": k["viewer"][1], "curve_server_key": k["daemon"][0]}
    good = Listener(d.results_endpoint, curve=(k["viewer"][1], k["daemon"][0]))
    intruder = Listener(d.results_endpoint, curve=(k["intruder"][1], k["daemon"][0]))
    wrong_server = Listener(d.results_endpoint, curve=(k["viewer"][1], k["intruder"][0]))
    plain = Listener(d.results_endpoint)
    others = (intruder, wrong_server, plain)
    try:
        sync(good, d.control_endpoint, **viewer)
        end = time.monotonic() + 20
        i = 0
        while not good.of("result", "secret") and time.monotonic() < end:  # the frame socket connects too
            source.send(frames[i % len(frames)], "secret", i)
            i += 1
            time.sleep(0.7)
        r = good.results("secret", 1)
        assert r[0].classes.shape == (4, 4)
        time.sleep(1.5)  # several status messages and results went out meanwhile
        assert len(good.messages) >= 3
        for ls in others:
            assert ls.messages == [] and ls.undecodable == []
        with pytest.raises(TimeoutError):
            request("status", d.control_endpoint, timeout=1.5, curve_secret_key=k["intruder"][1], curve_server_key=k["daemon"][0])
        with pytest.raises(TimeoutError):
            request("status", d.control_endpoint, timeout=1.5)
        assert request("status", d.control_endpoint, timeout=5, **viewer)["ok"]
    finally:
        d.request_stop()
        thread.join(30)
        for ls in (good, *others):
            ls.close()
        source.close()
    assert not thread.is_alive()


def test_a_daemon_without_the_microscopes_authorization_receives_no_frames(reference_model, frames, keys):
    from aistem.daemon.server import Daemon

    k, viewers, _ = keys
    nobody = viewers  # the microscope only lets in the keys in `viewers`, not the daemon's
    source = Source(curve_secret_key=k["microscope"][1], curve_authorized_keys=nobody)
    s = fast_settings(source.endpoint)
    s.curve.enabled = True
    s.curve.secret_key = str(k["daemon"][1])
    s.curve.frames_public_key = str(k["microscope"][0])
    d = Daemon(s, reference_model)
    thread = d.serve_in_thread()
    try:
        for i in range(4):
            source.send(frames[0], "stolen", i)
            time.sleep(0.4)
        st = request("status", d.control_endpoint, curve_secret_key=k["viewer"][1], curve_server_key=k["daemon"][0])
        assert st["status"]["frames_received"] == 0
    finally:
        d.request_stop()
        thread.join(30)
        source.close()
