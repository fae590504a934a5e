"""Export to app bundles: `avsep export ios|android|onnx`, `avsep verify`, `avsep bench`.

One module per target (tflite, coreml, onnx), each with
`convert(model, speakers, chunk_hops, out_dir, precision=..., <hook>=None) -> list[Path]`;
`bundle` ties conversion, test vectors, parity and the manifest together.
"""
