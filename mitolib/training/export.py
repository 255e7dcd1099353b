"""A trained run as a BioImage Model Zoo package (bioimage.io model spec 0.5, written with ``bioimageio.spec``).

``export_run(run_dir, package)`` writes a zip that the zoo's tools load: the weights twice (the Keras 3
``.keras`` file as ``keras_v3`` and a TensorFlow SavedModel from ``model.export`` as
``tensorflow_saved_model_bundle``), the input and output axes with the model's pixel size, the tile step
(the pooling factor) and a halo, the preprocessing (uint8 -> float32, x 1/255), a test input cut from
the run's test volume with the model's own output on it, a cover image, the data citation (Lucchi et al.
2012), the license and the training parameters (``params.json``).  The saved copies use Keras' own batch-norm
layer (:func:`mitolib.model.fused_bn.with_keras_batch_norm`), so a U-Net's ``.keras`` file loads without mitolib.
"""

from __future__ import annotations

import contextlib
import shutil
import tempfile
from pathlib import Path

import numpy as np
import tifffile

from mitolib.core import rundir
from mitolib.data.volumes import recorded_params, resolve_volumes
from mitolib.core.errors import DataError
from mitolib.data.pipeline import PIXEL_SCALE

INPUT_ID, OUTPUT_ID = "raw", "probability"
HALO = 16                  # output pixels at each tile border the zoo's tiling should discard (model scale)
TEST_TILE = 256            # side of the test input tile, at the model's scale (clipped to the slice)
LICENSE = "MIT"
UNET_CITATION = ("O. Ronneberger, P. Fischer, T. Brox. U-Net: Convolutional Networks for Biomedical Image "
                 "Segmentation. MICCAI 2015.")
UNET_DOI = "10.1007/978-3-319-24574-4_28"
ONNX_ATOL = 1e-5           # largest difference allowed between onnxruntime's and Keras' output on the test tile
ONNX_TESTED = "tf2onnx==1.17.0"  # the converter this export was tested with (onnx 1.23, onnxruntime 1.32)


def data_description(record: dict, data_name: str | None = None, pixel_size: float | None = None) -> dict:
    """What is true of a run's training data: what its training recorded (``data_description``), else what the
    data on disk prove (the EPFL volume by its checksums, or the generated volume), completed by ``data_name`` and
    ``pixel_size`` (nm) where the user states them.  A run whose data have no name is refused."""
    from mitolib.data.volumes import describe_training_data

    params = record["params"]
    described = dict(record.get("data_description") or {})
    if not described:
        try:
            described = describe_training_data(params, *resolve_volumes(params, "train"))
        except (DataError, OSError):
            described = {"name": None, "citation": None, "doi": None, "pixel_size_nm": None}
    if data_name:
        described.update(name=data_name, citation=None, doi=None)
    if pixel_size is not None:
        if not pixel_size > 0:
            raise DataError(f"--pixel-size {pixel_size!r} is not a pixel size: give nanometres per pixel")
        described["pixel_size_nm"] = float(pixel_size)
    if not described.get("name"):
        raise DataError("the run's training data are not the EPFL volume (or cannot be read to check), and mitolib "
                        "will not name them for you: pass --data-name NAME (and --pixel-size NM, the nanometres per "
                        "pixel of the training data, if known)")
    return described


def _test_tile(params: dict, multiple: int, generated: bool = False) -> np.ndarray:
    """A uint8 ``(1, T, T, C)`` tile from the middle of the run's test volume, at the model's scale; with
    ``generated``, from a generated EM-like volume of the same size instead (for a run whose data are not here:
    the package's test then checks that the tools reproduce the model, not how well it segments)."""
    from mitolib.data.patches import rescale, with_context
    from mitolib.data.synthetic import make_split

    images = (make_split("test", 2 * int(params.get("context_slices", 0) or 0) + 1, TEST_TILE * 2, TEST_TILE * 2)[0]
              if generated else resolve_volumes(params, "test")[0])
    context, middle = int(params.get("context_slices", 0) or 0), len(images) // 2
    planes = rescale(np.asarray(images[max(0, middle - context):middle + context + 1]), params["scale"], "image")
    plane = planes[min(middle, context)]
    side = min(TEST_TILE, plane.shape[0], plane.shape[1]) // multiple * multiple
    if side < multiple:
        raise DataError(f"test slices of {plane.shape} are smaller than the model's tile step {multiple}")
    top, left = (plane.shape[0] - side) // 2, (plane.shape[1] - side) // 2
    if context:  # 2.5D: the middle slice with its neighbours as channels
        stacked = with_context(planes, context)[min(middle, context)]
        return stacked[None, top:top + side, left:left + side, :]
    tile = plane[top:top + side, left:left + side]
    return np.repeat(tile[None, :, :, None], params["channels"], axis=-1)


def channel_names(params: dict) -> list:
    """Names of the input channels: ``em`` (or ``em0``..``em2``, the original's copies), or for 2.5D input the
    slice offsets ``z_minus_1``, ``z``, ``z_plus_1``, ..."""
    from bioimageio.spec.model import v0_5 as spec

    context = int(params.get("context_slices", 0) or 0)
    if context:
        names = [("z" if k == 0 else f"z_{'minus' if k < 0 else 'plus'}_{abs(k)}") for k in range(-context, context + 1)]
    else:
        names = ["em"] if params["channels"] == 1 else [f"em{i}" for i in range(params["channels"])]
    return [spec.Identifier(name) for name in names]


def _cover(tile: np.ndarray, probs: np.ndarray, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(6, 3))  # the zoo asks for a 2:1 cover
    middle = tile.shape[-1] // 2  # the slice itself (2.5D tiles carry its neighbours too)
    axes[0].imshow(tile[0, ..., middle], cmap="gray")
    axes[1].imshow(tile[0, ..., middle], cmap="gray")
    axes[1].contour(probs[0, ..., 0] >= 0.5, levels=[0.5], colors="yellow", linewidths=1)
    for ax, title in zip(axes, ("EM test tile", "predicted mitochondria")):
        ax.set_title(title, fontsize=9)
        ax.set_axis_off()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def _documentation(params: dict, pixel: float | None, data: dict, metrics: dict, path: Path,
                   generated_tile: bool = False) -> None:
    from mitolib.training import evaluate

    result = (f"Foreground IoU on the run's test volume (whole volume, full resolution, threshold "
              f"{rundir.run_threshold(params, metrics):g}): {metrics['test_iou']:.3f}."
              if isinstance(metrics.get("test_iou"), float) else "")
    scale = f"at {pixel:g} nm per pixel (resample other data to it)" if pixel else (
        "at the pixel size of the training data, which was not recorded")
    path.write_text(
        f"# mitolib {params['architecture']} for mitochondria in EM\n\n"
        f"A 2D {params['architecture']} (base width {params['base_filters']}, depth {params['depth']}) trained with "
        f"mitolib on {data['name']}, `{params.get('profile') or 'custom'}` "
        f"profile, seed {params['seed']}. {result}\n\n"
        f"## Input\nOne grayscale EM slice, uint8, {scale}; "
        f"height and width multiples of {2 ** params['depth']}. Preprocessing: x 1/255.\n\n"
        f"## Output\nThe probability of mitochondrion per pixel; threshold at {rundir.run_threshold(params, metrics):g} "
        "for a mask (the run's own rule: chosen on its validation slices where it tuned one). "
        f"Tile with a halo of {HALO} pixels.\n\n"
        f"## Training\nAll parameters are in `params.json`.\n\n"
        + ("# Validation\nThe package's test tensors are a tile of a generated EM-like volume (the run's test data "
           "were not at hand when it was exported) and this model's output on it: they check that a tool reproduces "
           f"the model, not how well it segments. {result}\n" if generated_tile else
           f"# Validation\nThe package's test tensors are a tile of the run's test volume and this model's output on "
           f"it. {result} How the number was measured: the mitolib book, chapter 'Results on the test volume'.\n"),
        encoding="utf-8")


def export_run(run_dir: str | Path, package: str | Path, *, overwrite: bool = False, data_name: str | None = None,
               pixel_size: float | None = None, data_root: str | Path | None = None,
               generated_tile: bool = False) -> Path:
    """Write the bioimage.io package of the finished run ``run_dir`` to ``package`` (a ``.zip``).  What the package
    says of the training data (name, citation, pixel size) is :func:`data_description`'s: only what is known.
    ``generated_tile`` takes the test tile from a generated volume where the run's test data are not at hand
    (the package's README says so)."""
    import keras
    from bioimageio.spec import save_bioimageio_package
    from bioimageio.spec.model import v0_5 as spec

    from mitolib.training import evaluate
    from mitolib.model.fused_bn import with_keras_batch_norm
    from mitolib.model.architectures import load_saved_model

    run_dir, package = Path(run_dir), Path(package)
    if package.suffix != ".zip":
        raise DataError(f"{package}: a bioimage.io package is a .zip file")
    if package.is_dir():
        raise DataError(f"{package}: is a folder; give the package a file name ending in .zip")
    if package.exists() and not overwrite:
        raise DataError(f"{package}: already exists; pass --overwrite to replace it")
    record = rundir.read_json(run_dir / rundir.PARAMS)
    if not isinstance(record, dict) or not (run_dir / rundir.MODEL).is_file():
        raise DataError(f"{run_dir}: not a finished run directory (needs {rundir.PARAMS} and {rundir.MODEL})")
    params, metrics = recorded_params(record), rundir.read_metrics(run_dir) or {}
    record = {**record, "params": params}
    if data_root is not None:  # the run's data, where they have moved since (for the test tile)
        params = {**params, "data_root": str(Path(data_root).resolve())}
        record = {**record, "params": params}
    data = data_description(record, data_name, pixel_size)
    pixel = data["pixel_size_nm"] / params["scale"] if data.get("pixel_size_nm") else None  # the model's
    multiple = 2 ** params["depth"]
    smallest = multiple * -(-(2 * HALO + multiple) // multiple)  # a tile must be larger than its two halos
    # float32 throughout: a run trained in bfloat16 mixed precision is exported with the same weights computing in
    # float32, and the package's test output is this model's own
    model = with_keras_batch_norm(evaluate.fully_convolutional(load_saved_model(run_dir / rundir.MODEL)), "float32")
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        try:
            tile = _test_tile(params, multiple, generated_tile)
        except (DataError, OSError) as error:
            raise DataError(f"the run's test data, for the package's test tile, cannot be read ({error}); point "
                            "--data-root at them, or pass --generated-tile to test the package on a generated "
                            "tile") from None
        x = tile.astype("float32") / PIXEL_SCALE  # the model's input, as the package's preprocessing makes it
        probs = np.asarray(model.predict_on_batch(x), dtype="float32")
        np.save(tmp / "test_input.npy", tile)
        np.save(tmp / "test_output.npy", probs)
        tifffile.imwrite(tmp / "sample_input.tif", tile[0] if tile.shape[-1] > 1 else tile[0, ..., 0])
        tifffile.imwrite(tmp / "sample_output.tif", probs[0, ..., 0])
        _cover(tile, probs, tmp / "cover.png")
        _documentation(params, pixel, data, metrics, tmp / "README.md", generated_tile)
        shutil.copyfile(run_dir / rundir.PARAMS, tmp / "params.json")
        model.save(tmp / "model.keras")  # the fully convolutional copy: any tile size that the axes allow
        _saved_model(model, tmp / "saved_model")
        opset = _onnx(model, tmp / "model.onnx", x, probs)
        shutil.make_archive(str(tmp / "tf_saved_model"), "zip", tmp / "saved_model")
        space = {"unit": "nanometer", "scale": pixel} if pixel else {}  # no physical size where none is known
        inputs = [spec.InputTensorDescr(
            id=spec.TensorId(INPUT_ID), description="grayscale EM slice, 8 bit",
            axes=[spec.BatchAxis(),
                  spec.SpaceInputAxis(id=spec.AxisId("y"), size=spec.ParameterizedSize(min=smallest, step=multiple),
                                      **space),
                  spec.SpaceInputAxis(id=spec.AxisId("x"), size=spec.ParameterizedSize(min=smallest, step=multiple),
                                      **space),
                  spec.ChannelAxis(channel_names=channel_names(params))],
            test_tensor=spec.FileDescr(source=tmp / "test_input.npy"),
            sample_tensor=spec.FileDescr(source=tmp / "sample_input.tif"),
            data=spec.IntervalOrRatioDataDescr(type="uint8"),
            # ends with an explicit float32: without it bioimageio.spec appends a cast back to the input's uint8,
            # and the zoo's tools would feed the model 0s
            preprocessing=[spec.EnsureDtypeDescr(kwargs=spec.EnsureDtypeKwargs(dtype="float32")),
                           spec.ScaleLinearDescr(kwargs=spec.ScaleLinearKwargs(gain=1 / PIXEL_SCALE)),
                           spec.EnsureDtypeDescr(kwargs=spec.EnsureDtypeKwargs(dtype="float32"))])]
        outputs = [spec.OutputTensorDescr(
            id=spec.TensorId(OUTPUT_ID), description="probability of mitochondrion",
            axes=[spec.BatchAxis(),
                  spec.SpaceOutputAxisWithHalo(id=spec.AxisId("y"), halo=HALO, **space, size=spec.SizeReference(
                      tensor_id=spec.TensorId(INPUT_ID), axis_id=spec.AxisId("y"))),
                  spec.SpaceOutputAxisWithHalo(id=spec.AxisId("x"), halo=HALO, **space, size=spec.SizeReference(
                      tensor_id=spec.TensorId(INPUT_ID), axis_id=spec.AxisId("x"))),
                  spec.ChannelAxis(channel_names=[spec.Identifier("mitochondrion")])],
            test_tensor=spec.FileDescr(source=tmp / "test_output.npy"),
            sample_tensor=spec.FileDescr(source=tmp / "sample_output.tif"),
            data=spec.IntervalOrRatioDataDescr(type="float32", range=(0.0, 1.0)))]
        tf_version = _version("tensorflow") or _version("tensorflow-cpu")
        weights = spec.WeightsDescr(
            keras_v3=spec.KerasV3WeightsDescr(source=tmp / "model.keras", keras_version=spec.Version(keras.__version__),
                                              backend=(keras.backend.backend(), spec.Version(tf_version or "0"))),
            tensorflow_saved_model_bundle=spec.TensorflowSavedModelBundleWeightsDescr(
                source=tmp / "tf_saved_model.zip", tensorflow_version=spec.Version(tf_version or "0"),
                parent="keras_v3"),
            onnx=spec.OnnxWeightsDescr(source=tmp / "model.onnx", opset_version=opset, parent="keras_v3"))
        descr = spec.ModelDescr(
            name=f"mitolib {params['architecture']} mitochondria {params.get('profile') or 'custom'}",
            description=(f"2D {params['architecture']} segmenting mitochondria in EM"
                         + (f" at {pixel:g} nm per pixel" if pixel else "") + f", trained on {data['name']} with mitolib"),
            authors=[spec.Author(name="mitolib contributors")],
            cite=[spec.CiteEntry(text=UNET_CITATION, doi=spec.Doi(UNET_DOI))]
            + ([spec.CiteEntry(text=data["citation"], doi=spec.Doi(data["doi"]))] if data.get("citation") else []),
            license=spec.LicenseId(LICENSE),
            documentation=spec.FileDescr(source=tmp / "README.md"),
            covers=[spec.FileDescr(source=tmp / "cover.png")],
            attachments=[spec.FileDescr(source=tmp / "params.json")],
            tags=["mitochondria", "electron-microscopy", "semantic-segmentation", "2d", "unet", "keras"],
            inputs=inputs, outputs=outputs, weights=weights,
            config={"mitolib": {"run_id": run_dir.name, "params": params,
                                "test_iou": metrics.get("test_iou"),
                                "threshold": rundir.run_threshold(params, metrics)}})
        package.parent.mkdir(parents=True, exist_ok=True)
        partial = package.with_name(f".{package.name}.partial.zip")
        try:
            save_bioimageio_package(descr, output_path=partial)
            partial.replace(package)
        finally:
            partial.unlink(missing_ok=True)  # nothing half-written stays behind, whatever stopped the export
    return package


def _saved_model(model, path: Path) -> None:
    """The model as a TensorFlow SavedModel whose ``serve`` endpoint returns its output by name
    (``{"probability": ...}``), as the zoo's tools read a SavedModel's outputs."""
    import keras
    import tensorflow as tf

    archive = keras.export.ExportArchive()
    archive.track(model)
    archive.add_endpoint(name="serve", fn=lambda images: {OUTPUT_ID: model(images, training=False)},
                         input_signature=[tf.TensorSpec(shape=(None, None, None, model.input_shape[-1]),
                                                        dtype=tf.float32)])
    archive.write_out(str(path), verbose=False)


def _onnx(model, path: Path, x: np.ndarray, expected: np.ndarray) -> int:
    """The model as ONNX weights (Keras' ``export(format="onnx")``, through tf2onnx), for onnxruntime and Fiji's
    deepImageJ; returns the ONNX opset version.  The weights are run with onnxruntime on the test input ``x`` and
    must give Keras' ``expected`` output (shape, and values within :data:`ONNX_ATOL`), or the export stops."""
    import tensorflow as tf

    try:
        import onnx
        import onnxruntime  # noqa: F401 - the check below runs the weights
        import tf2onnx
    except ImportError as error:
        raise DataError(f"ONNX weights need onnx, tf2onnx and onnxruntime ({error.name} is missing): "
                        "pip install -e '.[export]'") from None
    with _without_reshape_optimizer():
        model.export(str(path), format="onnx", verbose=False,
                     input_signature=[tf.TensorSpec((None, None, None, model.input_shape[-1]), tf.float32)])
    found = onnx_output(path, x)
    if found.shape != expected.shape or not np.allclose(found, expected, rtol=0, atol=ONNX_ATOL):
        difference = (f"largest difference {np.abs(found - expected).max():.3g}" if found.shape == expected.shape
                      else f"shape {found.shape}")
        raise DataError(f"the ONNX conversion (tf2onnx {tf2onnx.__version__}) does not reproduce the Keras model on "
                        f"the test tile: onnxruntime gives {difference} where Keras gives shape {expected.shape}; "
                        f"install the tested converter (pip install '{ONNX_TESTED}') and export again")
    return int(onnx.load(str(path)).opset_import[0].version)


@contextlib.contextmanager
def _without_reshape_optimizer():
    """tf2onnx's optimizers without its reshape optimizer, for one conversion.  In tf2onnx 1.17 that optimizer can
    drop the output's last Squeeze: rewriting a reshape that feeds the graph's output directly, it rewires the
    nodes that read the reshape (``Graph.insert_node_on_output``) but not the graph's output, so its new Squeeze
    is left unconnected and deleted.  Whether the reshape feeds the output directly depends on the order in which
    the transpose optimizer visits the nodes, which varies from run to run: a one-channel model's ONNX output
    then has a fifth axis in about one conversion of four.  Without the optimizer the graph keeps the shapes
    it computes (Shape, Gather, Reshape), and every conversion tried (40 in a row) had the right output."""
    from tf2onnx import optimizer

    table = getattr(optimizer, "_optimizers", None)  # tf2onnx's own list; from_function, which Keras calls, takes none
    if table is None:  # another tf2onnx: converted as it is, and the output still checked by onnxruntime
        yield
        return
    kept = table.copy()
    table.pop("reshape_optimizer", None)
    try:
        yield
    finally:
        table.clear()
        table.update(kept)


def onnx_output(path: Path, x: np.ndarray) -> np.ndarray:
    """onnxruntime's output of the ONNX model at ``path`` on the input batch ``x`` (its first output)."""
    import onnxruntime

    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return np.asarray(session.run(None, {session.get_inputs()[0].name: x})[0])


def _version(name: str) -> str | None:
    from importlib import metadata

    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


def validate_package(package: str | Path) -> str:
    """The ``bioimageio.spec`` validation status of ``package`` (``valid-format`` when the package is valid)."""
    from bioimageio.spec import load_description

    descr = load_description(package, perform_io_checks=True)
    return descr.validation_summary.status, descr.validation_summary.format()
