"""tegrastats logs: every recorded line parses, odd lines never raise, and unknown tokens are kept."""

from __future__ import annotations

import gc
import random
import warnings
from datetime import datetime

import pytest
from helpers import shared_fixture_dir

import cnnvis
from cnnvis import CnnvisError
from cnnvis.jetson import TegrastatsError, parse_line, read_tegrastats

FIXTURES = shared_fixture_dir("tegrastats")
needs_fixtures = pytest.mark.skipif(FIXTURES is None, reason="recorded tegrastats fixtures not found")
LOGS = ["agx_orin_jp6.log", "xavier_nx_burn.log", "nano_4gb.log", "mixed_tx1_tx2_xavier.log"]

# One real line per board (copied from the fixtures) so the edge-case tests run without them.
ORIN = (
    "07-21-2025 16:33:42 RAM 17953/62841MB (lfb 9x4MB) SWAP 0/31420MB (cached 0MB) CPU [7%@1728,31%@1036,"
    "7%@1036,42%@1036,4%@1420,5%@729,6%@729,1%@729,off,off,off,off] EMC_FREQ 12%@204 GR3D_FREQ 39%@[305,0] "
    "NVENC off NVDEC off NVJPG off NVJPG1 off VIC off OFA off NVDLA0 off NVDLA1 off PVA0_FREQ off APE 174 "
    "cpu@43.906C soc2@40.406C soc0@41.187C gpu@40.093C tj@43.906C soc1@40.437C VDD_GPU_SOC 2798mW/2798mW "
    "VDD_CPU_CV 799mW/799mW VIN_SYS_5V0 3315mW/3315mW"
)
NANO = (
    "RAM 936/3964MB (lfb 366x4MB) SWAP 0/4096MB (cached 0MB) IRAM 0/252kB(lfb 252kB) CPU [10%@102,3%@102,"
    "0%@102,0%@102] EMC_FREQ 0%@204 GR3D_FREQ 0%@76 APE 25 PLL@24C CPU@27.5C PMIC@50C GPU@28C AO@29.5C "
    "thermal@28C POM_5V_IN 920/920 POM_5V_GPU 0/0 POM_5V_CPU 119/119"
)


def lines_of(name: str) -> list[str]:
    assert FIXTURES is not None
    return (FIXTURES / name).read_text().splitlines()


def quiet_read(source):
    """read_tegrastats, failing the test if it warns about unknown tokens."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        return read_tegrastats(source)


# --- the recorded logs --------------------------------------------------------------------------


@needs_fixtures
@pytest.mark.parametrize("name", LOGS)
def test_every_fixture_line_parses_without_unknown_tokens(name):
    samples = quiet_read(FIXTURES / name)
    assert len(samples) == sum("RAM " in line for line in lines_of(name))
    for s in samples:
        assert s["unknown"] == []
        assert s["ram"]["total_mb"] > 0 and s["cpu"] and s["temps"] and s["rails"]
        assert s["emc"] is not None and s["gpu"] is not None
        assert isinstance(s["total_mw"], int)


@needs_fixtures
def test_agx_orin_jp6():
    samples = quiet_read(FIXTURES / "agx_orin_jp6.log")
    s = samples[0]
    assert s["time"] == datetime(2025, 7, 21, 16, 33, 42)
    assert s["ram"] == {"used_mb": 17953, "total_mb": 62841}
    assert s["swap"] == {"used_mb": 0, "total_mb": 31420}
    assert s["iram"] is None
    assert len(s["cpu"]) == 12 and s["cpu"][8:] == [None] * 4
    assert s["cpu"][0] == {"load": 7, "freq_mhz": 1728}
    assert s["emc"] == {"load": 12, "freqs_mhz": [204]}
    assert s["gpu"] == {"load": 39, "freqs_mhz": [305, 0]}  # one clock per GPC
    assert s["engines"]["NVDEC"] is None and s["engines"]["PVA0_FREQ"] is None
    assert s["engines"]["APE"] == 174
    assert s["temps"]["tj"] == 43.906 and s["temps"]["soc1"] == 40.437
    assert s["rails"]["VDD_GPU_SOC"] == {"cur_mw": 2798, "avg_mw": 2798, "max_mw": None}
    assert s["total_mw"] == 3315  # VIN_SYS_5V0
    assert samples[-1]["time"] == datetime(2025, 7, 21, 16, 33, 57)
    assert [x["gpu"]["load"] for x in samples[:3]] == [39, 40, 35]


@needs_fixtures
def test_xavier_nx_offline_cores_and_gpu_ramp():
    samples = quiet_read(FIXTURES / "xavier_nx_burn.log")
    s = samples[0]
    assert s["time"] == datetime(2025, 10, 1, 20, 5, 55)
    assert s["cpu"][:4] == [
        {"load": 99, "freq_mhz": 1189}, {"load": 100, "freq_mhz": 1188},
        {"load": 100, "freq_mhz": 1189}, {"load": 98, "freq_mhz": 1189},
    ]
    assert all(x["cpu"][4:] == [None, None] for x in samples)
    assert s["gpu"] == {"load": 22, "freqs_mhz": []}  # not run under sudo: no clock printed
    assert s["emc"] == {"load": 0, "freqs_mhz": []}
    loads = [x["gpu"]["load"] for x in samples]
    assert loads[:4] == [22, 32, 0, 0] and max(loads) == 99 and loads.count(99) == 92
    assert s["rails"]["VDD_CPU_GPU_CV"] == {"cur_mw": 1594, "avg_mw": 1594, "max_mw": None}
    assert s["total_mw"] == 5542  # VDD_IN
    assert s["temps"]["thermal"] == 37.85


@needs_fixtures
def test_nano_iram_and_pom_rails():
    samples = quiet_read(FIXTURES / "nano_4gb.log")
    s = samples[0]
    assert s["time"] is None
    assert s["iram"] == {"used_mb": 0, "total_mb": 252 / 1024}  # printed in kB
    assert s["swap"] == {"used_mb": 0, "total_mb": 4096}
    assert s["rails"]["POM_5V_CPU"] == {"cur_mw": 119, "avg_mw": 119, "max_mw": None}
    assert [x["total_mw"] for x in samples[:3]] == [920, 1537, 2793]  # POM_5V_IN
    assert samples[1]["emc"] == {"load": 0, "freqs_mhz": [1600]}
    assert samples[39]["gpu"] == {"load": 99, "freqs_mhz": [921]}
    assert samples[39]["rails"]["POM_5V_GPU"]["avg_mw"] == 976
    assert max(x["gpu"]["load"] for x in samples) == 99
    assert s["engines"] == {"APE": 25}


@needs_fixtures
def test_mixed_boards_and_date_stamp():
    lines = lines_of("mixed_tx1_tx2_xavier.log")
    assert "RAM " not in lines[0]  # a `date` stamp
    tx2, tx1, tx2_off, xavier = quiet_read(lines)
    assert tx2["total_mw"] == 1649 and tx2["rails"]["VDD_SYS_DDR"]["cur_mw"] == 173
    assert tx2["temps"]["thermal"] == 34.1 and len(tx2["cpu"]) == 6
    assert tx1["swap"] is None and tx1["iram"] == {"used_mb": 0, "total_mb": 252 / 1024}
    assert tx1["gpu"] == {"load": 0, "freqs_mhz": [76]} and tx1["engines"] == {"APE": 25}
    assert tx1["total_mw"] == 2532
    assert tx2_off["cpu"] == [{"load": 2, "freq_mhz": 345}, None, None, None, None, None]
    assert set(xavier["rails"]) == {"GPU", "CPU", "SOC", "CV", "VDDRQ", "SYS5V"}
    assert xavier["rails"]["CPU"] == {"cur_mw": 216, "avg_mw": 216, "max_mw": None}
    assert len(xavier["cpu"]) == 8  # the "CPU [...]" list is not confused with the "CPU 216/216" rail
    assert xavier["total_mw"] == 1889  # SYS5V
    assert xavier["temps"]["GPU"] == 32.0 and xavier["temps"]["Tdiode"] == 34.75


@needs_fixtures
@pytest.mark.parametrize("name", LOGS)
def test_path_lines_text_and_file_object_agree(name):
    path = FIXTURES / name
    expected = quiet_read(path)
    assert quiet_read(str(path)) == expected
    assert quiet_read(lines_of(name)) == expected
    assert quiet_read(path.read_text()) == expected
    with open(path, "rb") as f:
        assert quiet_read(f) == expected


# --- variants the recorded logs do not show -----------------------------------------------------


def test_sensor_off_is_none():
    s = parse_line(ORIN.replace("gpu@40.093C", "gpu@-256C").replace("tj@43.906C", "tj@-256.0C"))
    assert s["temps"]["gpu"] is None and s["temps"]["tj"] is None
    assert s["temps"]["cpu"] == 43.906 and s["unknown"] == []


def test_jetpack7_cur_avg_max_rails():
    s = parse_line(ORIN.replace("3315mW/3315mW", "3315mW/3300mW/4100mW").replace("799mW/799mW", "799/790/812"))
    assert s["rails"]["VIN_SYS_5V0"] == {"cur_mw": 3315, "avg_mw": 3300, "max_mw": 4100}
    assert s["rails"]["VDD_CPU_CV"] == {"cur_mw": 799, "avg_mw": 790, "max_mw": 812}
    assert s["total_mw"] == 3315 and s["unknown"] == []


def test_total_is_sum_of_rails_without_an_input_rail():
    s = parse_line(ORIN.replace(" VIN_SYS_5V0 3315mW/3315mW", ""))
    assert s["total_mw"] == 2798 + 799
    assert parse_line("RAM 1/2MB")["total_mw"] is None


@pytest.mark.parametrize(
    ("token", "expected"),
    [
        ("EMC_FREQ 0%", {"load": 0, "freqs_mhz": []}),
        ("EMC_FREQ 3%@1600", {"load": 3, "freqs_mhz": [1600]}),
        ("GR3D_FREQ 39%@[305,0]", {"load": 39, "freqs_mhz": [305, 0]}),
        ("GR3D_FREQ 0%", {"load": 0, "freqs_mhz": []}),
        ("GR3D_FREQ @[305,305]", {"load": None, "freqs_mhz": [305, 305]}),
    ],
)
def test_emc_and_gpu_forms(token, expected):
    s = parse_line(f"RAM 1/2MB {token}")
    assert s["emc" if token.startswith("EMC") else "gpu"] == expected and s["unknown"] == []


def test_engine_forms():
    s = parse_line("RAM 1/2MB NVDEC off MSENC 1075 VIC_FREQ 0%@115 NVENC 921 APE 150")
    assert s["engines"] == {"NVDEC": None, "MSENC": 1075, "VIC_FREQ": 115, "NVENC": 921, "APE": 150}
    assert s["unknown"] == []


@pytest.mark.parametrize(
    ("stamp", "expected"),
    [
        ("11-17-2023 10:39:42", datetime(2023, 11, 17, 10, 39, 42)),
        ("2023-11-17 10:39:42", datetime(2023, 11, 17, 10, 39, 42)),
        ("2023-11-17T10:39:42.250", datetime(2023, 11, 17, 10, 39, 42, 250000)),
    ],
)
def test_timestamps(stamp, expected):
    s = parse_line(f"{stamp} {NANO}")
    assert s["time"] == expected and s["unknown"] == [] and s["ram"]["used_mb"] == 936


def test_timestamp_alone():
    assert parse_line("2023-11-17T10:39:42")["time"] == datetime(2023, 11, 17, 10, 39, 42)
    assert parse_line("2023-11-17")["unknown"] == ["2023-11-17"]
    assert parse_line("11-17-2023 RAM 1/2MB")["unknown"] == ["11-17-2023"]


def test_impossible_timestamp_is_reported_not_raised():
    s = parse_line(f"13-45-2023 10:39:42 {NANO}")
    assert s["time"] is None and s["unknown"] == ["13-45-2023", "10:39:42"]
    assert s["ram"] == {"used_mb": 936, "total_mb": 3964}


# --- damaged input ------------------------------------------------------------------------------


def test_malformed_ram_keeps_the_other_fields():
    s = parse_line(NANO.replace("RAM 936/3964MB", "RAM abc/xyzMB"))
    assert s["ram"] is None
    assert "abc/xyzMB" in s["unknown"] and "RAM" in s["unknown"]
    assert s["swap"] == {"used_mb": 0, "total_mb": 4096}
    assert s["total_mw"] == 920 and len(s["cpu"]) == 4


def test_garbage_tokens_are_listed_and_fields_kept():
    line = ORIN.replace("APE 174", "APE 174 MTS fg 0% bg 0% ?? zz@q") + " TRAILING"
    s = parse_line(line)
    assert s["unknown"] == ["MTS", "fg", "0%", "bg", "0%", "??", "zz@q", "TRAILING"]
    clean = parse_line(ORIN)
    assert {k: v for k, v in s.items() if k != "unknown"} == {k: v for k, v in clean.items() if k != "unknown"}


def test_odd_core_entry_is_reported_and_the_rest_kept():
    s = parse_line(NANO.replace("CPU [10%@102,", "CPU [x%@1,"))
    assert s["cpu"] == [None, {"load": 3, "freq_mhz": 102}, {"load": 0, "freq_mhz": 102}, {"load": 0, "freq_mhz": 102}]
    assert s["unknown"] == ["CPU[0]=x%@1"]
    assert parse_line("RAM 1/2MB CPU [5%,off]")["cpu"] == [{"load": 5, "freq_mhz": None}, None]


def test_truncated_lines_never_raise():
    for line in (ORIN, NANO):
        for cut in range(len(line) + 1):
            s = parse_line(line[:cut])
            assert isinstance(s["unknown"], list)
        # Cut in the middle of the rails: everything before the cut is still there.
        s = parse_line(line[: line.rindex("/") - 2])
        assert s["ram"] and s["cpu"] and s["temps"] and s["gpu"]


def test_truncated_tokens_go_to_unknown():
    s = parse_line("RAM 936/3964MB (lfb 366x4MB) SWAP 0/4096MB (cached 0MB) CPU [10%@102,3%@1")
    assert s["ram"] and s["swap"] and s["cpu"] is None
    assert s["unknown"] == ["CPU", "[10%@102,3%@1"]
    s = parse_line("RAM 936/3964MB (lfb 366x4")
    assert s["ram"] == {"used_mb": 936, "total_mb": 3964} and s["unknown"] == ["(lfb", "366x4"]
    # An unclosed note does not swallow the fields after it.
    s = parse_line("RAM 936/3964MB (lfb 366x4 SWAP 0/4096MB IRAM 0/252kB(lfb APE 25")
    assert s["swap"] == {"used_mb": 0, "total_mb": 4096} and s["iram"]["total_mb"] == 252 / 1024
    assert s["engines"] == {"APE": 25} and s["unknown"] == ["(lfb", "366x4"]
    s = parse_line("RAM 936/3964 GR3D_FREQ 3 CPU 216/216")
    assert s["ram"] is None and s["gpu"] is None and s["engines"] == {}
    assert s["rails"] == {"CPU": {"cur_mw": 216, "avg_mw": 216, "max_mw": None}}
    assert s["unknown"] == ["RAM", "936/3964", "GR3D_FREQ", "3"]
    for tail in ("GR3D_FREQ", "EMC_FREQ 3%@", "SWAP", "IRAM 0/252kB(lfb"):
        s = parse_line(f"RAM 1/2MB {tail}")
        assert s["ram"] == {"used_mb": 1, "total_mb": 2}


def test_huge_numbers_do_not_raise():
    s = parse_line(f"RAM 1/2MB APE {'9' * 5000} VDD_IN {'1' * 5000}/1 cpu@{'4' * 5000}.5C")
    assert s["ram"] == {"used_mb": 1, "total_mb": 2} and s["engines"] == {} and s["rails"] == {}
    assert len(s["unknown"]) == 5 and s["temps"] == {}


def test_binary_line_in_file(tmp_path):
    path = tmp_path / "t.log"
    junk = bytes(b for b in range(256) if b not in b"\r\n") + b" RAM \x00\xff\xfe 1/2MB"
    path.write_bytes(NANO.encode() + b"\n" + junk + b"\n\xff\xfe\x00\n" + NANO.encode() + b"\n")
    with pytest.warns(UserWarning, match="1 of 3 tegrastats lines"):
        samples = read_tegrastats(path)
    assert len(samples) == 3
    assert samples[0] == samples[2] == parse_line(NANO)
    assert samples[1]["ram"] is None and samples[1]["unknown"]


def test_bytes_lines_from_an_iterable():
    with pytest.warns(UserWarning):
        samples = read_tegrastats([NANO.encode(), b"RAM \x80\x81 x"])
    assert samples[0]["ram"]["used_mb"] == 936 and samples[1]["unknown"] == ["RAM", "\ufffd\ufffd", "x"]


def test_random_damage_never_raises():
    rng = random.Random(0)
    alphabet = "RAM SWAP CPU [],@%/mWkBC()-0123456789 offGR3D_FREQ\x00\ufffd"
    for _ in range(3000):
        chars = list(rng.choice((ORIN, NANO)))
        for _ in range(rng.randint(1, 8)):
            pos = rng.randrange(len(chars))
            op = rng.random()
            if op < 0.4:
                del chars[pos]
            elif op < 0.8:
                chars[pos] = rng.choice(alphabet)
            else:
                chars.insert(pos, rng.choice(alphabet))
        s = parse_line("".join(chars))
        assert set(s) >= {"time", "ram", "cpu", "gpu", "emc", "rails", "temps", "engines", "unknown"}


def test_one_warning_per_call_counts_lines():
    bad = [NANO + " ??", "RAM abc/xyzMB", NANO, "date line without the marker", NANO.replace("APE 25", "APE")]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        samples = read_tegrastats(bad)
    assert len(samples) == 4
    assert len(caught) == 1 and "3 of 4 tegrastats lines" in str(caught[0].message)
    assert caught[0].filename == __file__  # points at the caller, not at the parser


def test_empty_input(tmp_path):
    assert quiet_read([]) == []
    assert quiet_read(iter(())) == []
    (tmp_path / "empty.log").write_text("")
    assert quiet_read(tmp_path / "empty.log") == []
    assert quiet_read(["", "   ", "Thu Dec 17 18:16:50 UTC 2020"]) == []


# --- arguments and errors -----------------------------------------------------------------------


def test_missing_file_raises_tegrastats_error(tmp_path):
    missing = tmp_path / "nope.log"
    with pytest.raises(TegrastatsError, match="nope.log") as info:
        read_tegrastats(missing)
    assert isinstance(info.value, CnnvisError)
    with pytest.raises(TegrastatsError):
        read_tegrastats(str(missing))
    with pytest.raises(TegrastatsError, match="readable"):
        read_tegrastats(tmp_path)  # a directory


def test_wrong_argument_types():
    with pytest.raises(TegrastatsError, match="int"):
        read_tegrastats(42)
    with pytest.raises(TegrastatsError, match="bytes"):
        read_tegrastats(b"RAM 1/2MB")


def test_collector_left_as_found():
    assert gc.isenabled()
    read_tegrastats([NANO])
    assert gc.isenabled()
    gc.disable()
    try:
        read_tegrastats([NANO])
        assert not gc.isenabled()
    finally:
        gc.enable()


def test_exported_from_the_package():
    assert cnnvis.read_tegrastats is read_tegrastats


def test_long_log_keeps_every_sample():
    lines = [ORIN, NANO, "Thu Dec 17 18:16:50 UTC 2020"] * 10_000
    samples = quiet_read(lines)
    assert len(samples) == 20_000
    assert samples[-1]["ram"] == samples[1]["ram"]

