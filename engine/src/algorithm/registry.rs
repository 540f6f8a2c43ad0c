//! The algorithms a configuration may name, one line each: its variant, its configuration
//! and, when new rows join its segments its own way, its model's variant in the stored form
//! ([`Assign`]). The first is the default.

use super::KChoice;
use super::config::{AlgorithmParams, KFields, Problems};
use super::{Algorithm, AssignRows};
use crate::kmeans::KMeansParams;
use serde::de::Error as _;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::{Map, Value};
use utoipa::openapi::RefOr;
use utoipa::openapi::schema::{ObjectBuilder, OneOfBuilder, Schema, Type};
use utoipa::{PartialSchema, ToSchema};

registry! {
    Kmeans => crate::kmeans::plugin::KMeansConfig;
    Gmm => crate::gmm::plugin::GmmConfig, model Mixture(crate::gmm::GmmModel);
    Dbscan => crate::dbscan::plugin::DbscanConfig, model Density(crate::dbscan::DbscanModel);
    Ward => crate::ward::plugin::WardConfig;
    Bisecting => crate::bisecting::plugin::BisectingConfig, model Tree(crate::bisecting::SplitTree);
    MinibatchKmeans => crate::kmeans::minibatch::plugin::MiniBatchConfig;
    Hdbscan => crate::hdbscan::plugin::HdbscanConfig, model Hdbscan(crate::hdbscan::HdbscanModel);
}

impl Assign {
    /// Speaks the canonical segment order (see [`AssignRows::reorder`]).
    pub fn reorder(&mut self, order: &[usize], rank: &[usize]) {
        if let Some(model) = self.rows_mut() {
            model.reorder(order, rank);
        }
    }
}

/// A segmentation's `algorithm` member: the algorithm's own parameters, and the k fields when
/// it takes them.
#[derive(Debug, Clone, PartialEq)]
pub struct AlgorithmConfig {
    /// `None` for the algorithms that find their own number of segments.
    pub k: Option<KFields>,
    pub params: Params,
}

/// A configuration checked: the algorithm, and k (given, or the range to choose it in).
#[derive(Debug, Clone, PartialEq)]
pub struct Checked {
    pub algorithm: Algorithm,
    pub k: KChoice,
}

impl AlgorithmConfig {
    /// The `type` it names.
    pub fn name(&self) -> &'static str {
        self.params.name()
    }

    /// The fields of the algorithm named `kind` (`type`, the k fields when it takes them, its
    /// own); `None`: no algorithm has that name.
    pub fn fields(kind: &str) -> Option<Vec<String>> {
        takes_k(kind).map(|_| properties(kind))
    }

    /// Whether K-Means is to start from the active run's centroids.
    pub fn warm_start(&self) -> bool {
        self.params.warm_start()
    }

    /// Checks every field (each problem named relative to the member: `eps`, `k_max`), and
    /// sets the run's K-Means settings the configuration holds.
    pub fn check(&self, run: &mut KMeansParams) -> Result<Checked, Problems> {
        let mut problems = Problems::default();
        let k = match &self.k {
            Some(k) => k.check(&mut problems),
            None => KChoice::Fixed(1),
        };
        let algorithm = self.params.check(run, &mut problems);
        if problems.is_empty() {
            Ok(Checked { algorithm, k })
        } else {
            Err(problems)
        }
    }

    /// A member as JSON holds it: `type`, then its fields.
    pub fn from_map(mut map: Map<String, Value>) -> Result<Self, Located> {
        let kind = match map.remove("type") {
            Some(Value::String(kind)) => kind,
            Some(other) => {
                return Err(Located::at(
                    "type",
                    format!("invalid type: {other}, expected a string"),
                ));
            }
            None => return Err(Located::here("missing field `type`")),
        };
        let names = || {
            NAMES
                .iter()
                .map(|n| format!("`{n}`"))
                .collect::<Vec<_>>()
                .join(", ")
        };
        let Some(takes_k) = takes_k(&kind) else {
            return Err(Located::at(
                "type",
                format!("unknown variant `{kind}`, expected one of {}", names()),
            ));
        };
        let mut k_fields = Map::new();
        if takes_k {
            for name in KFields::NAMES {
                if let Some(v) = map.remove(name) {
                    k_fields.insert(name.to_owned(), v);
                }
            }
        }
        let unknown = |located: Located| match located.message.strip_prefix("unknown field `") {
            Some(rest) => {
                let field = rest.split('`').next().unwrap_or_default();
                let expected: Vec<String> =
                    properties(&kind).iter().map(|p| format!("`{p}`")).collect();
                Located::here(format!(
                    "unknown field `{field}`, expected one of {}",
                    expected.join(", ")
                ))
            }
            None => located,
        };
        let k = if takes_k {
            Some(parse::<KFields>(k_fields).map_err(unknown)?)
        } else {
            None
        };
        let params = Params::parse(&kind, map)
            .expect("the kind is registered")
            .map_err(unknown)?;
        Ok(Self { k, params })
    }
}

impl Default for AlgorithmConfig {
    /// The first algorithm of the registry with its defaults.
    fn default() -> Self {
        let mut map = Map::new();
        map.insert("type".into(), NAMES[0].into());
        Self::from_map(map).expect("the first algorithm has defaults for every field")
    }
}

impl Serialize for AlgorithmConfig {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = Map::new();
        map.insert("type".into(), self.name().into());
        if let Some(k) = &self.k {
            let Value::Object(k) = serde_json::to_value(k).expect("k fields are JSON") else {
                unreachable!("k fields are an object")
            };
            map.extend(k);
        }
        if let Value::Object(own) = self.params.to_value() {
            map.extend(own);
        }
        map.serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for AlgorithmConfig {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let map = Map::<String, Value>::deserialize(deserializer)?;
        Self::from_map(map).map_err(D::Error::custom)
    }
}

/// A problem inside the member, with the field it is about. It travels through serde as a
/// message (serde's errors are text) marked with the field; [`locate`] takes it out again, so
/// a 422 names `config.algorithm.eps` where serde alone would say `config.algorithm`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Located {
    path: String,
    message: String,
}

/// Marks a located message; never at the start of a message serde writes.
const MARK: char = '\u{1}';

impl Located {
    fn here(message: impl Into<String>) -> Self {
        Self::at("", message)
    }

    fn at(path: &str, message: impl Into<String>) -> Self {
        Self {
            path: path.to_owned(),
            message: message.into(),
        }
    }
}

impl std::fmt::Display for Located {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.path.is_empty() {
            f.write_str(&self.message)
        } else {
            write!(f, "{MARK}{}{MARK}{}", self.path, self.message)
        }
    }
}

/// The field an error is about and its message: `path` (where serde stood, `.` for the
/// document) joined with the field a [`Located`] message carries.
pub fn locate(path: &str, message: &str) -> (String, String) {
    match message
        .strip_prefix(MARK)
        .and_then(|rest| rest.split_once(MARK))
    {
        Some((inner, message)) if path == "." || path.is_empty() => {
            (inner.to_owned(), message.to_owned())
        }
        Some((inner, message)) => (format!("{path}.{inner}"), message.to_owned()),
        None => (path.to_owned(), message.to_owned()),
    }
}

/// `T` from a member's fields, naming the field at fault.
fn parse<T: serde::de::DeserializeOwned>(fields: Map<String, Value>) -> Result<T, Located> {
    serde_path_to_error::deserialize(Value::Object(fields)).map_err(|e| {
        let path = e.path().to_string();
        let message = e.into_inner().to_string();
        if path == "." {
            Located::here(message)
        } else {
            Located { path, message }
        }
    })
}

/// One algorithm's member in the OpenAPI document: its k fields when it takes them, its own
/// fields, and `type`.
fn variant_schema<P: AlgorithmParams>() -> RefOr<Schema> {
    let own = object_of(P::schema());
    let mut object = ObjectBuilder::new()
        .schema_type(Type::Object)
        .description(own.description.clone());
    if P::TAKES_K {
        for (name, schema) in object_of(KFields::schema()).properties {
            object = object.property(name, schema);
        }
    }
    for (name, schema) in own.properties {
        object = object.property(name, schema);
    }
    object = object.property(
        "type",
        ObjectBuilder::new()
            .schema_type(Type::String)
            .enum_values(Some([P::TYPE])),
    );
    for required in own.required {
        object = object.required(required);
    }
    object.required("type").into()
}

fn property_names<P: AlgorithmParams>() -> Vec<String> {
    let mut names = vec!["type".to_owned()];
    if P::TAKES_K {
        names.extend(KFields::NAMES.iter().map(|n| n.to_string()));
    }
    names.extend(object_of(P::schema()).properties.into_keys());
    names
}

fn object_of(schema: RefOr<Schema>) -> utoipa::openapi::schema::Object {
    match schema {
        RefOr::T(Schema::Object(object)) => object,
        _ => panic!("an algorithm's parameters are an object"),
    }
}
