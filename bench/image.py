"""Image: the shipped image's size against the original's recipe, and what a build costs.

The original recipe is one stage (bench/images/original/Dockerfile): the shipped image's contents
plus the compilers, headers and pip that built them, on the same base. Both are built cold (on the
base with one file more, unique to the run, so that no cache serves them) from a copy of the
repository, under throwaway names: the shipped one by the copy's own scripts/build-image.sh (the
demo in its app/ with the kit in its app/dockerable/), the original with the copy's app/ as its
context; then the shipped image is rebuilt with nothing changed, and both are rebuilt after a
code-only change (one line of CSS) to see what layer caching saves. Cold builds download Debian
packages and Python wheels, so they vary with the network; the full run builds each recipe once cold
(they take minutes), the quick run builds with the cache.
"""

import shutil
import tempfile
import time
import uuid
from pathlib import Path

import common

ORIGINAL = common.ROOT / "bench" / "images" / "original" / "Dockerfile"
SHIPPED_NAME = f"{common.PREFIX}image"
ORIGINAL_NAME = f"{common.PREFIX}original"
CHANGED_FILE = Path("app/pages/static/pages/site.css")
# What the original recipe takes of the shipped build's plan (the base image is the run's own).
ORIGINAL_ARGS = ("BUILD_CA_CERTS", "MANAGE_DIR", "SETTINGS_MODULE", "WSGI_APPLICATION", "BUILD_ENV")
# Where both images keep the kit, the project and its static files: the same files in both.
CONTENTS = ("/opt/dockerable", "/app", "/var/www/static")
FULL_REBUILDS = 3  # rebuilds are seconds each: medians of several; cold builds take minutes: one each
QUICK_REBUILDS = 1


def fresh_base(base, directory):
    """`base` with one small file more, unique to this run: BuildKit's cache is keyed on the content
    that a step starts from, so no earlier build on this machine serves a step built on it, and every
    build from it is cold, without --no-cache (which would leave this machine's build cache a second
    set of layers for the same steps, and later builds a mix of both). Returns its tag."""
    tag = f"{common.PREFIX}base:{uuid.uuid4().hex[:12]}"
    (directory / "Dockerfile").write_text(f"FROM {base}\nRUN echo {tag} >/etc/django-dockerable-bench-base\n")
    common.docker("buildx", "build", "--quiet", "--tag", tag, directory)
    return tag


def build_shipped(source, base):
    """The copy's own scripts/build-image.sh, from `base`; returns (reference, seconds)."""
    env = {"IMAGE_NAME": SHIPPED_NAME, "FORCE_BUILD": "1", "BASE_IMAGE": base}
    started = time.monotonic()
    reference = common.built_image(common.sh(source / "scripts" / "build-image.sh", env=env))
    return reference, time.monotonic() - started


def build_original(source, tag, base, plan_args):
    """The original recipe, built the way build-image.sh builds the shipped one (docker buildx, the
    same base image, and the arguments of its plan that the recipe takes: the CA certificates that
    the builder trusts, the project's layout); returns seconds."""
    args = [f"BASE_IMAGE={base}"] + [f"{name}={plan_args[name]}" for name in ORIGINAL_ARGS]
    started = time.monotonic()
    common.docker(
        "buildx", "build", "--quiet", *(word for arg in args for word in ("--build-arg", arg)),
        "--file", ORIGINAL, "--tag", tag, source / "app",
    )  # fmt: skip
    return time.monotonic() - started


def image_files(reference):
    """The files that an image holds of the kit, the project and its static files."""
    listing = common.docker("run", "--rm", reference, "find", *CONTENTS, "-type", "f")
    return set(listing.stdout.split())


def check_same_contents(shipped, original):
    """The original recipe holds the shipped image's files (it copies the kit and the project its own way)."""
    files = {name: image_files(reference) for name, reference in (("shipped", shipped), ("original", original))}
    if files["shipped"] != files["original"]:
        only = {name: sorted(found - files["original" if name == "shipped" else "shipped"])[:10]
                for name, found in files.items()}  # fmt: skip
        raise RuntimeError(
            f"image: the original recipe ({ORIGINAL}) does not hold the shipped image's files in {', '.join(CONTENTS)};"
            f" only in the shipped image: {only['shipped']}; only in the original: {only['original']}"
        )


def image_id(reference):
    return common.docker("image", "inspect", "-f", "{{.Id}}", reference).stdout.strip()


def size(reference):
    return int(common.docker("image", "inspect", "-f", "{{.Size}}", reference).stdout)


def packages(reference):
    """Debian packages installed in an image, and whether a C compiler is among them."""
    listed = common.docker("run", "--rm", reference, "dpkg-query", "-W", "-f", "${Package}\\n").stdout.split()
    return {"debian_packages": len(listed), "compiler": "gcc" in listed}


def run(quick):
    cold = not quick
    rebuilds = QUICK_REBUILDS if quick else FULL_REBUILDS
    base = common.base_image()
    source = Path(tempfile.mkdtemp(prefix=common.PREFIX))
    tags = []
    dangling = common.dangling_images()
    times = {name: [] for name in ("shipped_unchanged", "shipped_code_change", "original_code_change")}
    changes = {"shipped": [], "original": []}  # the layers each code-only change added
    built_from = base
    try:
        common.copy_repository(source)
        plan_args = common.build_plan(source)["args"]
        if cold:
            built_from = fresh_base(base, Path(tempfile.mkdtemp(dir=source)))
        common.log(f"image: building the shipped recipe {'cold' if cold else 'with the cache'} (base {built_from})")
        shipped, shipped_cold = build_shipped(source, built_from)
        tags.append(shipped)
        common.log(f"image: shipped {shipped} built in {shipped_cold:.1f} s")
        for _ in range(rebuilds):
            times["shipped_unchanged"].append(build_shipped(source, built_from)[1])
        common.log(f"image: shipped rebuilt with nothing changed in {common.median(times['shipped_unchanged']):.1f} s")

        original = f"{ORIGINAL_NAME}:before"
        tags.append(original)
        common.log(f"image: building the original recipe {'cold' if cold else 'with the cache'}")
        original_cold = build_original(source, original, built_from, plan_args)
        common.log(f"image: original built in {original_cold:.1f} s")
        check_same_contents(shipped, original)

        # Code-only changes, each unique to this run so that no earlier build's layers can serve it. The
        # layers each adds are counted against the build just before it: on a machine whose build cache
        # other builds share, an earlier step may be served by another build's identical step.
        original_changed = f"{ORIGINAL_NAME}:after"
        tags.append(original_changed)
        previous = {"shipped": image_id(shipped), "original": image_id(original)}
        for index in range(rebuilds):
            with (source / CHANGED_FILE).open("a") as css:
                css.write(f"/* bench {uuid.uuid4().hex} */\n")
            shipped_changed, seconds = build_shipped(source, built_from)
            tags.append(shipped_changed)
            times["shipped_code_change"].append(seconds)
            times["original_code_change"].append(build_original(source, original_changed, built_from, plan_args))
            common.log(
                f"image: code-only change {index + 1}: shipped rebuilt in {times['shipped_code_change'][-1]:.1f} s, "
                f"original in {times['original_code_change'][-1]:.1f} s"
            )
            for name, reference in (("shipped", shipped_changed), ("original", original_changed)):
                changes[name].append(common.new_layers(previous[name], reference))
                previous[name] = image_id(reference)

        images = {
            "base": {"image": base, "bytes": size(base)},
            "shipped": {"image": shipped, "bytes": size(shipped), **packages(shipped)},
            "original": {"image": "bench/images/original/Dockerfile", "bytes": size(original), **packages(original)},
        }
    finally:
        common.remove_images(*tags, *([built_from] if built_from != base else []))
        # An image whose tag a rebuild took stays behind, untagged.
        common.remove_images(*(common.dangling_images() - dangling))
        shutil.rmtree(source, ignore_errors=True)

    builds = {"shipped_cold": shipped_cold, "original_cold": original_cold}
    layers = {
        name: {key: common.median(change[key] for change in found) for key in ("count", "bytes")}
        for name, found in changes.items()
    }
    builds.update({name: common.median(values) for name, values in times.items()})
    added = {name: images[name]["bytes"] - images["base"]["bytes"] for name in ("shipped", "original")}
    ratios = {
        "size": images["shipped"]["bytes"] / images["original"]["bytes"],
        "added_size": added["shipped"] / added["original"],
        "cold_build": builds["shipped_cold"] / builds["original_cold"],
        "code_change_shipped": builds["shipped_code_change"] / builds["shipped_cold"],
        "code_change_original": builds["original_code_change"] / builds["original_cold"],
        "code_change_rebuild": builds["shipped_code_change"] / builds["original_code_change"],
        "code_change_layers": layers["shipped"]["bytes"] / layers["original"]["bytes"],
    }
    for name, image in images.items():
        common.log(f"image: {name:8} {image['bytes'] / 1e6:7.1f} MB  {image.get('debian_packages', '-')} packages")
    for name, seconds in builds.items():
        common.log(f"image: build {name:22} {seconds:6.1f} s")
    for name, ratio in ratios.items():
        common.log(f"image: ratio {name:22} {ratio:.3f}")
    return {
        "cold": cold,
        "cold_builds_per_recipe": 1,
        "rebuilds": rebuilds,
        "images": images,
        "added_bytes": added,
        "builds_s": {name: round(seconds, 2) for name, seconds in builds.items()},
        "rebuild_runs_s": {name: [round(seconds, 2) for seconds in values] for name, values in times.items()},
        "code_change_layers": layers,
        "code_change_layer_runs": changes,
        "ratios": ratios,
    }


# --- the report -----------------------------------------------------------------------------------


def mb(n):
    return f"{n / 1e6:.0f} MB"


def figure_sizes(result, path):
    import matplotlib.pyplot as plt

    images, base = result["images"], result["images"]["base"]["bytes"] / 1e6
    names = ["shipped", "original"]
    labels = ["shipped (two stages)", "original recipe (one stage)"]
    added = [result["added_bytes"][name] / 1e6 for name in names]
    fig, ax = plt.subplots(figsize=(7, 3))
    ax.barh(labels, [base, base], label=f"base image ({base:.0f} MB)", color="#bbbbbb")
    ax.barh(labels, added, left=[base, base], label="added by the recipe", color="#4477aa")
    for row, name in enumerate(names):
        total = images[name]["bytes"] / 1e6
        ax.text(total, row, f" {total:.0f} MB", va="center")
    ax.set_xlabel("image size, MB")
    ax.set_xlim(0, max(images[name]["bytes"] for name in names) / 1e6 * 1.2)
    ax.legend(fontsize="small", loc="lower right")
    ax.set_title("Image size on the same base")
    common.save_figure(fig, path, dpi=100)


def figure_builds(result, path):
    import matplotlib.pyplot as plt

    builds = result["builds_s"]
    kind = "cold" if result["cold"] else "cached"
    rows = [
        (f"shipped, {kind}", builds["shipped_cold"]),
        (f"original, {kind}", builds["original_cold"]),
        ("shipped, code-only change", builds["shipped_code_change"]),
        ("original, code-only change", builds["original_code_change"]),
        ("shipped, nothing changed", builds["shipped_unchanged"]),
    ]
    fig, ax = plt.subplots(figsize=(7, 3.2))
    ax.barh([label for label, _ in rows][::-1], [seconds for _, seconds in rows][::-1], color="#66aa55")
    for row, (_, seconds) in enumerate(rows[::-1]):
        ax.text(seconds, row, f" {seconds:.1f} s", va="center")
    ax.set_xlabel(f"build time, s (cold: one build each; rebuilds: median of {result['rebuilds']})")
    ax.set_xlim(0, max(seconds for _, seconds in rows) * 1.2)
    ax.set_title(f"Build times, {result['machine']['cores']} cores")
    common.save_figure(fig, path, dpi=100)


def section(result, figures):
    figure_sizes(result, figures / "image-sizes.png")
    figure_builds(result, figures / "image-builds.png")
    images, builds, ratios = result["images"], result["builds_s"], result["ratios"]
    layers = result["code_change_layers"]
    kind = "cold (no cache could serve it)" if result["cold"] else "with the build cache (a quick run: not cold)"
    compiler = (
        ", a C compiler among them" if images["original"]["compiler"] and not images["shipped"]["compiler"] else ""
    )

    def runs(name):
        return ", ".join(f"{seconds:.1f}" for seconds in result["rebuild_runs_s"][name])

    lines = [
        "## Image",
        "",
        "The shipped image (`app/dockerable/Dockerfile`: a builder stage compiles uWSGI and the Python packages, "
        "the run-time stage has no compiler) against the original's recipe in one stage "
        "(`bench/images/original/Dockerfile`: the same run-time packages, code and static files, plus "
        "build-essential, python3-dev, python3-pip, python3-venv, libpq-dev and libpcre2-dev, with uWSGI compiled "
        "by pip in the image; it gets the same apt and pip hygiene, so only the single stage differs), both on "
        f"`{images['base']['image']}`. Each recipe was built once {kind}, as cold builds take minutes; rebuilds "
        f"take seconds, so they are medians of {result['rebuilds']}: with nothing changed, and after a code-only "
        "change (one line appended to a CSS file, new each time), with the cache.",
        "",
        "| | Shipped | Original recipe | Ratio shipped ÷ original |",
        "|---|---:|---:|---:|",
        f"| Image size | {mb(images['shipped']['bytes'])} | {mb(images['original']['bytes'])} | {ratios['size']:.2f} |",
        f"| Added to the base ({mb(images['base']['bytes'])}) | {mb(result['added_bytes']['shipped'])} | "
        f"{mb(result['added_bytes']['original'])} | {ratios['added_size']:.2f} |",
        f"| Debian packages | {images['shipped']['debian_packages']} | {images['original']['debian_packages']} | |",
        f"| C compiler in the image | {'yes' if images['shipped']['compiler'] else 'no'} | "
        f"{'yes' if images['original']['compiler'] else 'no'} | |",
        f"| Build, {'cold' if result['cold'] else 'cached'} | {builds['shipped_cold']:.1f} s | "
        f"{builds['original_cold']:.1f} s | {ratios['cold_build']:.2f} |",
        f"| Rebuild after a code-only change | {builds['shipped_code_change']:.1f} s ({runs('shipped_code_change')}) "
        f"| {builds['original_code_change']:.1f} s ({runs('original_code_change')}) | "
        f"{ratios['code_change_rebuild']:.2f} |",
        f"| New layers after it | {layers['shipped']['count']:.0f}, {mb(layers['shipped']['bytes'])} | "
        f"{layers['original']['count']:.0f}, {mb(layers['original']['bytes'])} | {ratios['code_change_layers']:.2f} |",
        f"| Rebuild with nothing changed | {builds['shipped_unchanged']:.1f} s ({runs('shipped_unchanged')}) | | |",
        "",
        "![Image sizes](benchmarks/image-sizes.png)",
        "",
        f"**Size.** The shipped image is {mb(images['shipped']['bytes'])}, {(1 - ratios['size']) * 100:.0f}% smaller "
        f"than the same contents built in one stage ({mb(images['original']['bytes'])}); of what each adds to the "
        f"{mb(images['base']['bytes'])} base, the shipped recipe adds {ratios['added_size'] * 100:.0f}% of what the "
        f"original adds. The difference is the tool chain: the original carries "
        f"{images['original']['debian_packages'] - images['shipped']['debian_packages']} more Debian packages"
        f"{compiler}. For a user: every host stores, and a first deploy ships, that much less; and a container "
        "that is broken into finds no compiler to build its tools with.",
        "",
        "![Build times](benchmarks/image-builds.png)",
        "",
    ]
    if result["cold"]:
        speed = "faster" if ratios["cold_build"] < 1 else "slower, as it runs apt-get in both of its stages"
        build_text = (
            f"**Build time.** Cold, the shipped recipe built in {builds['shipped_cold']:.0f} s against "
            f"{builds['original_cold']:.0f} s for the original (ratio {ratios['cold_build']:.2f}: {speed}; both "
            "download their packages and compile uWSGI, so this varies with the network, and each was built "
            "once). "
        )
    else:
        build_text = "**Build time.** This was a quick run, built with the cache: no cold build times. "
    build_text += (
        f"After a code-only change the shipped image rebuilt in {builds['shipped_code_change']:.1f} s (median of "
        f"{result['rebuilds']}), "
        f"{ratios['code_change_shipped'] * 100:.0f}% of its {'cold ' if result['cold'] else ''}build, adding "
        f"{layers['shipped']['count']:.0f} layers of {mb(layers['shipped']['bytes'])} (the code, its compiled "
        f"bytecode and the collected static files); the original recipe rebuilt in "
        f"{builds['original_code_change']:.1f} s. With nothing changed a rebuild takes "
        f"{builds['shipped_unchanged']:.1f} s, and the deploy does not even run it: the tag is a hash of what goes "
        "into the image (the project's files, the kit and the build's inputs), so an unchanged project is never "
        "rebuilt. For a user: the dependencies are installed before the code is copied, so a code change costs "
        "seconds, not a rebuild of uWSGI; the kit's uWSGI is installed before the project's requirements, so a "
        "change to those does not compile it again either; only a change to the base (or to the kit's own "
        "requirements) pays the cold build again."
    )
    lines.append(build_text)
    return "\n".join(lines) + "\n"
