//! Builds the ResNet18 network as an ONNX graph from loaded weights.
//!
//! The graph mirrors torchvision's `resnet18` forward pass node for node (Conv, BatchNorm in
//! inference mode, ReLU, MaxPool, residual Add, global average pool, Gemm). Input `input`
//! is `[batch, 3, 224, 224]` f32; output `raw` is `[batch, head]` f32.

use crate::weights::Weights;
use prost::Message;
use tract_onnx::pb;

pub const INPUT_NAME: &str = "input";
pub const OUTPUT_NAME: &str = "raw";
/// ONNX operator set the graph is written against.
pub const OPSET: i64 = 13;
/// PyTorch's BatchNorm2d default epsilon.
const BN_EPS: f32 = 1e-5;

fn attr_ints(name: &str, v: &[i64]) -> pb::AttributeProto {
    pb::AttributeProto {
        name: name.into(),
        r#type: pb::attribute_proto::AttributeType::Ints as i32,
        ints: v.to_vec(),
        ..Default::default()
    }
}

fn attr_int(name: &str, v: i64) -> pb::AttributeProto {
    pb::AttributeProto {
        name: name.into(),
        r#type: pb::attribute_proto::AttributeType::Int as i32,
        i: v,
        ..Default::default()
    }
}

fn attr_float(name: &str, v: f32) -> pb::AttributeProto {
    pb::AttributeProto {
        name: name.into(),
        r#type: pb::attribute_proto::AttributeType::Float as i32,
        f: v,
        ..Default::default()
    }
}

fn value_info(name: &str, dims: &[Result<i64, &str>]) -> pb::ValueInfoProto {
    use pb::tensor_shape_proto::{dimension::Value, Dimension};
    pb::ValueInfoProto {
        name: name.into(),
        r#type: Some(pb::TypeProto {
            value: Some(pb::type_proto::Value::TensorType(pb::type_proto::Tensor {
                elem_type: pb::tensor_proto::DataType::Float as i32,
                shape: Some(pb::TensorShapeProto {
                    dim: dims
                        .iter()
                        .map(|d| Dimension {
                            value: Some(match d {
                                Ok(v) => Value::DimValue(*v),
                                Err(p) => Value::DimParam((*p).into()),
                            }),
                            ..Default::default()
                        })
                        .collect(),
                }),
            })),
            ..Default::default()
        }),
        ..Default::default()
    }
}

struct GraphBuilder<'w> {
    weights: &'w Weights,
    nodes: Vec<pb::NodeProto>,
    initializers: Vec<pb::TensorProto>,
}

impl GraphBuilder<'_> {
    fn init(&mut self, name: &str) -> String {
        let t = self.weights.get(name);
        let mut raw = Vec::with_capacity(t.data.len() * 4);
        for v in &t.data {
            raw.extend_from_slice(&v.to_le_bytes());
        }
        self.initializers.push(pb::TensorProto {
            name: name.into(),
            dims: t.shape.iter().map(|&d| d as i64).collect(),
            data_type: pb::tensor_proto::DataType::Float as i32,
            raw_data: raw,
            ..Default::default()
        });
        name.to_string()
    }

    fn node(
        &mut self,
        op: &str,
        name: &str,
        inputs: Vec<String>,
        attrs: Vec<pb::AttributeProto>,
    ) -> String {
        let out = format!("{name}:out");
        self.nodes.push(pb::NodeProto {
            op_type: op.into(),
            name: name.into(),
            input: inputs,
            output: vec![out.clone()],
            attribute: attrs,
            ..Default::default()
        });
        out
    }

    fn conv(&mut self, x: String, prefix: &str, stride: i64, pad: i64) -> String {
        let w = self.init(&format!("{prefix}.weight"));
        let k = self.weights.get(&w).shape[2] as i64;
        self.node(
            "Conv",
            prefix,
            vec![x, w],
            vec![
                attr_ints("kernel_shape", &[k, k]),
                attr_ints("strides", &[stride, stride]),
                attr_ints("pads", &[pad, pad, pad, pad]),
                attr_ints("dilations", &[1, 1]),
                attr_int("group", 1),
            ],
        )
    }

    fn bn(&mut self, x: String, prefix: &str) -> String {
        let inputs = vec![
            x,
            self.init(&format!("{prefix}.weight")),
            self.init(&format!("{prefix}.bias")),
            self.init(&format!("{prefix}.running_mean")),
            self.init(&format!("{prefix}.running_var")),
        ];
        self.node(
            "BatchNormalization",
            prefix,
            inputs,
            vec![attr_float("epsilon", BN_EPS)],
        )
    }

    fn relu(&mut self, x: String, name: &str) -> String {
        self.node("Relu", name, vec![x], vec![])
    }

    fn block(&mut self, x: String, prefix: &str, stride: i64, downsample: bool) -> String {
        let y = self.conv(x.clone(), &format!("{prefix}.conv1"), stride, 1);
        let y = self.bn(y, &format!("{prefix}.bn1"));
        let y = self.relu(y, &format!("{prefix}.relu1"));
        let y = self.conv(y, &format!("{prefix}.conv2"), 1, 1);
        let y = self.bn(y, &format!("{prefix}.bn2"));
        let identity = if downsample {
            let d = self.conv(x, &format!("{prefix}.downsample.0"), stride, 0);
            self.bn(d, &format!("{prefix}.downsample.1"))
        } else {
            x
        };
        let s = self.node("Add", &format!("{prefix}.add"), vec![y, identity], vec![]);
        self.relu(s, &format!("{prefix}.relu2"))
    }
}

/// The ONNX model for these weights, as a protobuf message.
pub fn build_model(weights: &Weights, doc: &str) -> pb::ModelProto {
    build_graph(weights, doc, false)
}

/// The network without its head: output `raw` is the `[batch, 512]` pooled features the head
/// reads (for training a new head on cached features).
pub fn build_features_onnx_bytes(weights: &Weights, doc: &str) -> Vec<u8> {
    build_graph(weights, doc, true).encode_to_vec()
}

/// Width of the pooled features.
pub const FEATURES: usize = 512;

fn build_graph(weights: &Weights, doc: &str, features: bool) -> pb::ModelProto {
    let mut g = GraphBuilder {
        weights,
        nodes: Vec::new(),
        initializers: Vec::new(),
    };
    let x = g.conv(INPUT_NAME.to_string(), "conv1", 2, 3);
    let x = g.bn(x, "bn1");
    let x = g.relu(x, "relu");
    let mut x = g.node(
        "MaxPool",
        "maxpool",
        vec![x],
        vec![
            attr_ints("kernel_shape", &[3, 3]),
            attr_ints("strides", &[2, 2]),
            attr_ints("pads", &[1, 1, 1, 1]),
        ],
    );
    for layer in 1..=4 {
        for block in 0..2 {
            let first = block == 0 && layer > 1;
            let stride = if first { 2 } else { 1 };
            x = g.block(x, &format!("layer{layer}.{block}"), stride, first);
        }
    }
    let x = g.node("GlobalAveragePool", "avgpool", vec![x], vec![]);
    let x = g.node("Flatten", "flatten", vec![x], vec![attr_int("axis", 1)]);
    if !features {
        let w = g.init("fc.weight");
        let b = g.init("fc.bias");
        g.node("Gemm", "fc", vec![x, w, b], vec![attr_int("transB", 1)]);
    }
    // The last node's output carries the graph's public output name.
    if let Some(last) = g.nodes.last_mut() {
        last.output = vec![OUTPUT_NAME.to_string()];
    }
    let head = if features {
        FEATURES as i64
    } else {
        weights.head() as i64
    };
    pb::ModelProto {
        ir_version: 8,
        opset_import: vec![pb::OperatorSetIdProto {
            domain: String::new(),
            version: OPSET,
        }],
        producer_name: "histoscore".into(),
        producer_version: env!("CARGO_PKG_VERSION").into(),
        doc_string: doc.into(),
        graph: Some(pb::GraphProto {
            name: "resnet18".into(),
            node: g.nodes,
            initializer: g.initializers,
            input: vec![value_info(
                INPUT_NAME,
                &[Err("batch"), Ok(3), Ok(224), Ok(224)],
            )],
            output: vec![value_info(OUTPUT_NAME, &[Err("batch"), Ok(head)])],
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// The ONNX model serialised to bytes (what `histoscore model export --onnx` writes).
pub fn build_onnx_bytes(weights: &Weights, doc: &str) -> Vec<u8> {
    build_model(weights, doc).encode_to_vec()
}
