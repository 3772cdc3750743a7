"""Named remotes: the config file, names, URLs and options, and which remote a command uses."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from mlpipe.errors import RemoteConfigError
from mlpipe.remote import config
from mlpipe.remote.config import NamedRemote, RemotesConfig
from mlpipe.spec.settings import RemoteSpec

ORIGIN = NamedRemote("origin", "s3://team/cache", {"endpoint_url": "http://127.0.0.1:9000"})
BACKUP = NamedRemote("backup", "/mnt/backup/cache")


class TestOptions:
    def test_values_are_read_as_yaml_and_dotted_keys_nest(self) -> None:
        options = config.parse_options(["endpoint_url=http://h:9000", "anon=true",
                                        "config_kwargs.retries.max_attempts=2",
                                        "config_kwargs.connect_timeout=5", "profile="])
        assert options == {"endpoint_url": "http://h:9000", "anon": True, "profile": "",
                           "config_kwargs": {"retries": {"max_attempts": 2},
                                             "connect_timeout": 5}}

    @pytest.mark.parametrize("pair", ["no-equals", "=x", "bad key=1", "a..b=1", "1a=2"])
    def test_bad_pairs_are_refused(self, pair: str) -> None:
        with pytest.raises(RemoteConfigError, match="bad option"):
            config.parse_options([pair])

    def test_a_value_cannot_become_a_mapping(self) -> None:
        with pytest.raises(RemoteConfigError, match="'a' is already a value"):
            config.parse_options(["a=1", "a.b=2"])

    def test_secrets_are_masked_for_display(self) -> None:
        shown = config.shown_options({"key": "AKIA", "secret": "s", "endpoint_url": "http://h",
                                      "client_kwargs": {"aws_session_token": "t",
                                                        "region_name": "eu"}})
        assert shown == {"key": "***", "secret": "***", "endpoint_url": "http://h",
                         "client_kwargs": {"aws_session_token": "***", "region_name": "eu"}}


class TestNamesAndUrls:
    @pytest.mark.parametrize("name", ["origin", "team-cache", "s3.eu_1", "A" * 64])
    def test_good_names(self, name: str) -> None:
        assert config.check_name(name) == name

    @pytest.mark.parametrize("name", ["", "1st", "-x", "a/b", "a b", "a\nb", "é", "A" * 65])
    def test_bad_names(self, name: str) -> None:
        with pytest.raises(RemoteConfigError, match="bad remote name"):
            config.check_name(name)

    @pytest.mark.parametrize("url", ["", "   ", "s3://b/\x1b[2J", "/tmp/a\nb"])
    def test_bad_urls(self, url: str) -> None:
        with pytest.raises(RemoteConfigError, match="bad remote URL") as info:
            config.check_url(url)
        assert "\n" not in str(info.value) and "\x1b" not in str(info.value)

    def test_local_paths_become_absolute_and_urls_stay(self, tmp_path: Path) -> None:
        assert config.absolute("cache", tmp_path) == str(tmp_path / "cache")
        assert config.absolute("../x", tmp_path / "p") == str(tmp_path / "x")
        assert config.absolute("file:///srv/c", tmp_path) == "/srv/c"
        assert config.absolute("s3://b/p", tmp_path) == "s3://b/p"
        assert config.absolute("~/c", tmp_path) == str(Path.home() / "c")


class TestFile:
    def test_round_trip(self, tmp_path: Path) -> None:
        path = tmp_path / "remotes.yaml"
        cfg = RemotesConfig((BACKUP, ORIGIN), "origin")
        config.write(path, cfg)
        assert config.read(path) == cfg
        raw = yaml.safe_load(path.read_text())
        assert raw == {"default": "origin", "remotes": {
            "backup": {"url": "/mnt/backup/cache"},
            "origin": {"url": "s3://team/cache",
                       "options": {"endpoint_url": "http://127.0.0.1:9000"}}}}

    def test_a_missing_file_is_an_empty_config(self, tmp_path: Path) -> None:
        assert config.read(tmp_path / "remotes.yaml") == RemotesConfig()

    @pytest.mark.parametrize("text, problem", [
        ("remotes: [a, b\n", "unreadable remotes file"),
        ("- a\n", "not a remotes file"),
        ("remotes: {o: {options: {}}}\n", "remote 'o' needs 'url'"),
        ("remotes: {o: {url: /x}}\ndefault: p\n", "default 'p' is not a remote"),
    ])
    def test_a_bad_file_is_one_line_naming_it(self, tmp_path: Path, text: str,
                                              problem: str) -> None:
        path = tmp_path / "remotes.yaml"
        path.write_text(text)
        with pytest.raises(RemoteConfigError, match=problem) as info:
            config.read(path)
        assert str(path) in str(info.value) and "\n" not in str(info.value)

    def test_update_writes_atomically_and_leaves_no_temporary_file(self, tmp_path: Path) -> None:
        config.update(tmp_path, lambda cfg: config.added(cfg, ORIGIN, False))
        assert [p.name for p in tmp_path.iterdir()] == ["remotes.yaml"]
        assert config.read(tmp_path / "remotes.yaml").default == "origin"


class TestChanges:
    def test_the_first_remote_becomes_the_default(self) -> None:
        cfg = config.added(RemotesConfig(), BACKUP, make_default=False)
        assert cfg.default == "backup"
        cfg = config.added(cfg, ORIGIN, make_default=False)
        assert cfg.default == "backup" and cfg.names() == ["backup", "origin"]
        assert config.added(RemotesConfig((BACKUP,), "backup"), ORIGIN, True).default == "origin"

    def test_a_name_is_added_once(self) -> None:
        with pytest.raises(RemoteConfigError, match="remote 'origin' exists"):
            config.added(RemotesConfig((ORIGIN,), "origin"), ORIGIN, False)

    def test_removing_the_default_leaves_no_default(self) -> None:
        cfg = config.removed(RemotesConfig((BACKUP, ORIGIN), "origin"), "origin")
        assert cfg == RemotesConfig((BACKUP,), None)

    def test_unknown_names_suggest_the_nearest(self) -> None:
        cfg = RemotesConfig((BACKUP, ORIGIN), "origin")
        with pytest.raises(RemoteConfigError, match=r"unknown remote 'orgin' \(did you mean "
                                                    r"'origin'\?\); known: backup, origin"):
            config.removed(cfg, "orgin")
        with pytest.raises(RemoteConfigError, match="unknown remote 'nope'"):
            config.with_default(cfg, "nope")


class TestChoose:
    CFG = RemotesConfig((BACKUP, ORIGIN), "origin")
    FILE = RemoteSpec("../shared-cache", {"anon": True})

    def test_a_flag_naming_a_remote_wins(self, tmp_path: Path) -> None:
        chosen = config.choose("backup", self.CFG, self.FILE, tmp_path, tmp_path)
        assert (chosen.url, chosen.source) == ("/mnt/backup/cache", "remote 'backup'")

    def test_a_flag_that_is_a_url_or_path(self, tmp_path: Path) -> None:
        assert config.choose("s3://other/p", self.CFG, None, tmp_path, tmp_path).url == \
            "s3://other/p"
        chosen = config.choose("./here", self.CFG, None, tmp_path / "root", tmp_path)
        assert chosen.url == str(tmp_path / "here")  # a flag's path is relative to the cwd

    def test_an_unknown_name_is_an_error_not_a_path(self, tmp_path: Path) -> None:
        with pytest.raises(RemoteConfigError, match=r"unknown remote 'orign' \(did you mean "
                                                    r"'origin'\?\).*\(a directory: ./orign\)"):
            config.choose("orign", self.CFG, None, tmp_path, tmp_path)

    def test_then_the_default_then_the_pipeline_file(self, tmp_path: Path) -> None:
        assert config.choose(None, self.CFG, self.FILE, tmp_path, tmp_path).url == ORIGIN.url
        chosen = config.choose(None, RemotesConfig(), self.FILE, tmp_path / "root", Path("/"))
        assert chosen.url == str(tmp_path / "shared-cache")  # relative to the pipeline root
        assert chosen.options == {"anon": True} and chosen.source == "the pipeline file"

    def test_nothing_set_says_how_to_set_one(self, tmp_path: Path) -> None:
        with pytest.raises(RemoteConfigError, match="no remote configured: pass --remote URL, "
                                                    "run `mlpipe remote add NAME URL --default`"):
            config.choose(None, RemotesConfig(), None, tmp_path, tmp_path)
