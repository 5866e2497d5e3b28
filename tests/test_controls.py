"""The controller's rules, the knob smoother, the LED, and the systemd unit."""

import shutil
import subprocess
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from bedside.adapters.controls import Led, choose_pins, simulated_pins
from bedside.adapters.panel import KnobSmoother
from bedside.audio.engine import Engine
from bedside.config import Config, TimerConfig
from bedside.controller import Controller, FadeOut, SetTimer, State, StepTimer, TogglePlay
from bedside.events import Reason, Snapshot
from bedside.sounds import builtin_sounds


def controller(**timer) -> Controller:
    config = Config(timer=TimerConfig(**timer)) if timer else Config()
    return Controller(Engine(48000), builtin_sounds(), config, seed=np.random.SeedSequence(0))


def test_timer_presets_cycle_then_turn_off():
    c = controller()
    seen = []
    for _ in range(5):
        c.apply(StepTimer())
        seen.append(c.state.timer_min)
    assert seen == [15, 30, 60, 90, 0]


def test_timer_add_mode_adds_the_first_preset_until_past_the_longest():
    c = controller(presets_min=(15.0, 60.0), mode="add")
    seen = []
    for _ in range(5):
        c.apply(StepTimer())
        seen.append(c.state.timer_min)
    assert seen == [15, 30, 45, 60, 0]


def test_a_timer_set_while_stopped_arms_when_play_starts_and_the_press_dips_the_sound():
    c = controller()
    c.apply(StepTimer())
    assert c.state.timer_end is None
    c.apply(TogglePlay())
    assert c.state.timer_end == 15 * 60 * 48000
    c.apply(StepTimer())  # while playing: re-armed from now, and confirmed by a dip
    assert c.state.timer_min == 30 and c.engine.dipping


def test_bad_commands_are_refused_and_nothing_changes(caplog):
    c = controller()
    c.apply(TogglePlay())
    before = c.state
    for bad in (SetTimer(-1), SetTimer(5000), FadeOut(0)):
        c.submit(bad)
    assert c.process_pending() == 3
    assert c.state == before and caplog.text.count("refused") == 3


def test_fade_out_now_ends_in_silence():
    c = controller()
    c.apply(TogglePlay())
    c.apply(FadeOut(2))
    for _ in range(48000 * 3 // 1024):
        c.engine.render(1024)
        c.after_block()
    assert not c.state.playing and not c.engine.audible


@pytest.mark.parametrize("seed", range(20))
def test_knob_smoother_holds_still_through_noise_and_follows_a_turn(seed):
    """A knob resting exactly between two steps, its readings wandering by ±3 counts of the
    MCP3008 (a noisy pot), for a minute of readings: one volume, no jitter."""
    rng = np.random.default_rng(seed)
    knob = KnobSmoother()
    sent = [v for v in (knob.feed(0.505 + rng.normal(0, 0.003)) for _ in range(3000)) if v is not None]
    assert sent == [sent[0]] and sent[0] in (50, 51)
    turned = [v for v in (knob.feed(x) for x in np.linspace(0.505, 0.8, 300)) if v is not None]
    assert turned[-1] in (79, 80) and set(np.diff([sent[0], *turned])) == {1}  # one step at a time


def test_led_glows_breathes_blinks_and_goes_dark():
    led = Led(12, brightness=0.4, pin_factory=simulated_pins())
    try:
        led.on_state(Snapshot(State(playing=True), Reason("started")))
        time.sleep(0.1)
        assert led.led.value == pytest.approx(0.2)  # a dim glow
        led.on_state(Snapshot(State(playing=True, timer_end=1000), Reason("timer")))
        values = []
        for _ in range(30):
            time.sleep(0.1)
            values.append(led.led.value)
        assert max(values) - min(values) > 0.1 and max(values) <= 0.4  # a slow breath, never brighter
        led.on_state(Snapshot(State(playing=True, timer_end=1000), Reason("confirm")))
        blink = []
        for _ in range(8):
            blink.append(led.led.value)
            time.sleep(0.05)
        assert 0.0 in blink and 0.4 in blink
        led.on_state(Snapshot(State(playing=False), Reason("stopped")))
        time.sleep(0.1)
        assert led.led.value == 0.0
    finally:
        led.close()


def test_the_systemd_unit_verifies(tmp_path):
    analyze = shutil.which("systemd-analyze")
    assert analyze, "systemd-analyze is installed by `make test`"
    unit = (Path(__file__).parent.parent / "systemd" / "bedside.service").read_text()
    assert "Type=notify" in unit and "WatchdogSec=" in unit and "DevicePolicy=closed" in unit
    # lgpio needs a writable working directory: under ProtectSystem=strict, / is not one.
    assert "RuntimeDirectory=bedside" in unit and "WorkingDirectory=/run/bedside" in unit
    assert "Environment=LG_WD=/run/bedside" in unit
    # Online before starting where the network is managed (NTP, the broker), and /etc/bedside kept
    # 0750 as make install makes it (systemd's default ConfigurationDirectoryMode is 0755).
    assert "Wants=sound.target network-online.target" in unit and "ConfigurationDirectoryMode=0750" in unit
    assert "Documentation=file:/opt/bedside/README.md" in unit
    bedside = Path(shutil.which("bedside") or Path(__file__).parent.parent / ".venv" / "bin" / "bedside")
    local = tmp_path / "bedside.service"
    local.write_text(unit.replace("/opt/bedside/venv/bin/bedside", str(bedside)))
    result = subprocess.run([analyze, "verify", str(local)], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


def test_off_a_pi_auto_means_simulated_pins_and_no_problem():
    pins = choose_pins("auto", on_pi=False)
    assert pins.simulated and pins.problem is None


def test_real_gpio_expected_and_missing_is_a_problem_with_gpiozeros_reasons():
    """On a Pi whose GPIO fails (lgpio without a writable directory under systemd), the old code
    fell back to simulated pins with an info line: the buttons were dead and nothing said so."""
    for pins in (choose_pins("required"), choose_pins("auto", on_pi=True)):
        assert pins.simulated and pins.problem
        assert "lgpio" in pins.problem  # gpiozero's own reason for each factory it tried


def test_simulated_pins_do_not_remember_every_change():
    """MockPin kept every state change: the breathing LED grew the daemon by 16 MiB an hour."""
    pins = simulated_pins()
    led = Led(12, brightness=0.4, pin_factory=pins)
    try:
        pin = pins.pin(12)
        for i in range(5000):
            pin.state = (i % 100) / 100
        assert len(pin.states) <= 2000
    finally:
        led.close()


def test_the_daemon_says_loudly_that_the_buttons_are_dead_and_keeps_playing(tmp_path, caplog):
    from bedside.commands import Play
    from bedside.config import load
    from bedside.daemon import Daemon
    from bedside.view import status_line

    path = tmp_path / "bedside.toml"
    path.write_text(f'[audio]\ndevice = "null"\n[controls]\ngpio = "required"\n'
                    f'[state]\ndirectory = "{tmp_path}"\n')
    daemon = Daemon(load(path), keyboard=False, seed=1)
    thread = threading.Thread(target=daemon.run, daemon=True)
    thread.start()
    try:
        assert daemon.ready.wait(10)
        daemon.controller.submit(Play("pink"))
        deadline = time.monotonic() + 5
        while not daemon.controller.engine.playing and time.monotonic() < deadline:
            time.sleep(0.02)
        assert daemon.controller.engine.playing
        assert "GPIO FAILED" in status_line(daemon.events.latest.state, daemon.gpio_problem)
        errors = [r for r in caplog.records if r.levelname == "ERROR"]
        assert any("GPIO FAILED" in r.getMessage() and "buttons" in r.getMessage() for r in errors)
    finally:
        daemon.request_exit()
        thread.join(10)


def test_doctor_fails_naming_gpio_when_it_is_required_and_missing(tmp_path):
    import subprocess
    import sys

    path = tmp_path / "bedside.toml"
    path.write_text('[audio]\ndevice = "null"\n[controls]\ngpio = "required"\n')
    result = subprocess.run([sys.executable, "-m", "bedside", "--config", str(path), "doctor"],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 1
    assert any(line.startswith("[FAIL] GPIO: real GPIO expected") for line in result.stdout.splitlines()), result.stdout


def test_doctor_knows_the_running_service(tmp_path):
    """A hw device is exclusive: doctor run beside the service would call the DAC broken. It finds
    the running `bedside run` instead (here a real one, playing on ALSA null). Others may run on
    this machine: the test looks for its own."""
    import sys

    from bedside.doctor import running_services

    path = tmp_path / "bedside.toml"
    path.write_text(f'[audio]\ndevice = "null"\n[state]\ndirectory = "{tmp_path}"\n')
    service = subprocess.Popen([sys.executable, "-m", "bedside", "--config", str(path), "run", "--simulate-pins"],
                               stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.monotonic() + 20
        while service.pid not in running_services() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert service.pid in running_services()
    finally:
        service.terminate()
        service.wait(20)
    assert service.pid not in running_services()


def test_snapshots_carry_what_is_heard_and_the_timer_left_without_the_engine():
    """The page and MQTT read snapshots only: the level a volume change is going to (not the one its
    30 ms ramp starts from), a timer's remaining seconds, and why it changed."""
    from bedside.commands import SetVolume

    c = controller()
    seen: list[Snapshot] = []
    c.subscribe(seen.append)
    c.apply(TogglePlay())
    c.process_pending()  # the sound built in place starts
    c.engine.render(48000)
    c.apply(SetVolume(70))
    c.apply(SetTimer(30))
    c.events.deliver()
    assert [type(s.reason) for s in seen] == [Reason] * len(seen)  # never a bare string
    assert [s.reason for s in seen][:3] == [Reason.STARTED, Reason.VOLUME, Reason.TIMER]
    volume, timer = seen[1], seen[-1]
    assert volume.level_db == pytest.approx(c.engine.volume_scale.to_db(70))
    assert timer.frame == 48000 and timer.timer_remaining_s == pytest.approx(30 * 60)
    assert timer.aged(timer.taken_at + 60).timer_remaining_s == pytest.approx(29 * 60)
    c.apply(FadeOut(10))
    c.events.deliver()
    assert seen[-1].reason == Reason.FADE_OUT and seen[-1].sleep_fade_s == pytest.approx((0.0, 10.0))
