//! The records the store reads and writes.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Utc};
use histoscore_domain::{Schema, Scores};
use indexmap::IndexMap;
use serde::{Deserialize, Serialize};

/// The user every change is attributed to in single-user mode (no accounts), and the reader
/// whose scores are an image's scores.
pub const LOCAL_USER: &str = "local";
/// The phase of an image's own scores (a reader's study scores are kept apart, by [`crate::ReadPhase`]).
pub const FINAL_PHASE: &str = "final";

/// Times in answers and downloads: RFC 3339 with milliseconds, in UTC (`…T08:15:02.123Z`).
pub(crate) mod millis {
    use chrono::{DateTime, SecondsFormat, Utc};
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(t: &DateTime<Utc>, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&t.to_rfc3339_opts(SecondsFormat::Millis, true))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<DateTime<Utc>, D::Error> {
        DateTime::<Utc>::deserialize(d)
    }

    pub mod option {
        use super::*;

        pub fn serialize<S: Serializer>(
            t: &Option<DateTime<Utc>>,
            s: S,
        ) -> Result<S::Ok, S::Error> {
            match t {
                Some(t) => super::serialize(t, s),
                None => s.serialize_none(),
            }
        }

        pub fn deserialize<'de, D: Deserializer<'de>>(
            d: D,
        ) -> Result<Option<DateTime<Utc>>, D::Error> {
            Option::<DateTime<Utc>>::deserialize(d)
        }
    }
}

macro_rules! text_enum {
    ($(#[$m:meta])* $name:ident { $($(#[$vm:meta])* $variant:ident => $text:literal),+ $(,)? }) => {
        $(#[$m])*
        #[derive(
            Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
        )]
        pub enum $name { $($(#[$vm])* #[serde(rename = $text)] $variant),+ }

        // Written by hand: utoipa's derive does not see serde's renames through this macro,
        // and the document must list the values sent on the wire.
        impl utoipa::PartialSchema for $name {
            fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
                utoipa::openapi::schema::ObjectBuilder::new()
                    .schema_type(utoipa::openapi::schema::Type::String)
                    .enum_values(Some([$($text),+]))
                    .into()
            }
        }

        impl utoipa::ToSchema for $name {
            fn name() -> std::borrow::Cow<'static, str> {
                std::borrow::Cow::Borrowed(stringify!($name))
            }
        }

        impl $name {
            /// The text stored in the database and used in the API.
            pub fn as_str(self) -> &'static str {
                match self { $($name::$variant => $text),+ }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl FromStr for $name {
            type Err = crate::StoreError;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                match s {
                    $($text => Ok($name::$variant),)+
                    other => Err(crate::StoreError::invalid(
                        stringify!($name),
                        format!(
                            "unknown value {other:?} (expected one of: {})",
                            [$($text),+].join(", ")
                        ),
                    )),
                }
            }
        }
    };
}

text_enum!(
    /// Where an image is in the inference pipeline.
    ImageStatus { Queued => "queued", Scoring => "scoring", Scored => "scored", Failed => "failed" }
);
text_enum!(
    /// Whether a pathologist has signed off the scores.
    ReviewStatus { Unreviewed => "unreviewed", Reviewed => "reviewed" }
);
text_enum!(
    /// State of an inference job.
    JobState { Queued => "queued", Running => "running", Done => "done", Failed => "failed" }
);
text_enum!(
    /// What an audit row records; written to the exported audit CSV (a regulatory record), so
    /// every value is listed in docs/export.md and never renamed.
    AuditAction {
        /// An image was uploaded.
        Create => "create",
        /// A person changed a score.
        Score => "score",
        /// A model's draft became the score (the image was not yet reviewed).
        AiScore => "ai_score",
        /// Marked reviewed or not reviewed.
        Review => "review",
        /// Scoring finished; the draft is stored.
        Scored => "scored",
        /// Scoring failed.
        Failed => "failed",
        /// Queued to be scored again.
        Rescore => "rescore",
        /// Retracted (hidden from lists and exports).
        Delete => "delete",
        /// Brought back after a retraction.
        Restore => "restore",
        /// A reader's blind score in a blinded study (before seeing the AI draft).
        BlindScore => "blind_score",
        /// A reader's score in an open study.
        ReaderScore => "reader_score",
        /// A reader's revised score after the reveal.
        ReaderRevise => "reader_revise",
        /// The study's final score set by an administrator.
        Adjudicate => "adjudicate",
        /// Imported from another system (the original's `image_scores` table).
        Import => "import",
        /// The file of a record without pixels (an imported one) was uploaded.
        Attach => "attach",
        /// The same file was uploaded again under another name (kept as a name to find it by).
        OtherName => "other_name",
        /// The retraining's evaluation set was chosen or changed (the groups, and why).
        EvaluationSet => "evaluation_set",
    }
);
text_enum!(
    /// What a job does: score an image (`image_id`), or train a model (the training run named
    /// in its payload).
    JobKind { Score => "score", Train => "train" }
);
text_enum!(
    /// Whitelisted sort keys for [`ListQuery`].
    SortField {
        Id => "id",
        Filename => "filename",
        Serial => "serial",
        Group => "group",
        ImageNumber => "image_number",
        CreatedAt => "created_at",
        UpdatedAt => "updated_at",
        Status => "status",
        ReviewStatus => "review_status",
        Uncertainty => "uncertainty",
    }
);
text_enum!(
    /// Sort direction.
    SortDir { Asc => "asc", Desc => "desc" }
);

text_enum!(
    /// What an account may do: a viewer reads, a pathologist also scores, an admin also
    /// manages users, studies and models.
    Role { Viewer => "viewer", Pathologist => "pathologist", Admin => "admin" }
);

impl Role {
    fn rank(self) -> u8 {
        match self {
            Role::Viewer => 0,
            Role::Pathologist => 1,
            Role::Admin => 2,
        }
    }

    /// Whether this role includes everything `other` may do.
    pub fn at_least(self, other: Role) -> bool {
        self.rank() >= other.rank()
    }
}

impl SortField {
    /// The column this key sorts by (constant SQL, never user text).
    pub(crate) fn column(self) -> &'static str {
        match self {
            SortField::Id => "i.id",
            SortField::Filename => "i.filename",
            SortField::Serial => "i.serial",
            SortField::Group => "i.group_name",
            SortField::ImageNumber => "i.image_number",
            SortField::CreatedAt => "i.created_at",
            SortField::UpdatedAt => "i.updated_at",
            SortField::Status => "i.status",
            SortField::ReviewStatus => "i.review_status",
            SortField::Uncertainty => "i.uncertainty",
        }
    }
}

/// A new upload, before the database gives it an id.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct NewImage {
    /// The client's file name: data only, never used as a path.
    pub filename: String,
    pub serial: Option<String>,
    pub group_name: Option<String>,
    pub image_number: Option<i64>,
    /// Lower-case hex SHA-256 of the file's bytes (64 characters).
    pub sha256: String,
    pub size_bytes: i64,
    pub width: Option<i64>,
    pub height: Option<i64>,
    pub format: Option<String>,
    /// Where the blob store keeps the bytes.
    pub storage_key: Option<String>,
    /// A whole-slide image's metadata (vendor, levels, microns per pixel…); `None` for an
    /// ordinary image. Its presence makes the record a slide.
    #[serde(default)]
    pub slide: Option<serde_json::Value>,
    /// A file registered in place (`import --in-place`): read from there, never copied.
    #[serde(default)]
    pub source: Option<SourceFile>,
    /// Physical size of a pixel in micrometres, when the file's resolution tags give it.
    #[serde(default)]
    pub pixel_size_um: Option<f64>,
}

/// Where a file registered in place lives, as it was when registered: a file whose size or
/// modification time differ is reported as changed and is not re-scored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct SourceFile {
    /// The absolute path (every worker must see the file at this path).
    pub path: String,
    pub size: i64,
    /// Modification time, milliseconds since 1970-01-01 UTC.
    pub mtime_ms: i64,
}

impl NewImage {
    /// "slide" or "image".
    pub fn kind(&self) -> &'static str {
        if self.slide.is_some() {
            "slide"
        } else {
            "image"
        }
    }
}

/// The AI's draft for one image, as the worker hands it in.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct NewDraft {
    pub model_id: String,
    /// The draft came from the demo (untrained) model.
    pub model_demo: bool,
    /// Raw network output per metric, schema order. Non-finite values are stored as JSON null
    /// and read back as NaN.
    pub raw_outputs: IndexMap<String, f64>,
    /// The rounded score per metric, schema order (`Schema::scores_from_raw`).
    pub rounded: Scores,
    /// Per metric: spread of the score under test-time augmentation (score units).
    pub uncertainty: Option<IndexMap<String, f64>>,
}

/// A stored AI draft; immutable once written.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Draft {
    pub id: i64,
    pub image_id: i64,
    pub model_id: String,
    pub model_demo: bool,
    pub raw_outputs: IndexMap<String, f64>,
    pub rounded: Scores,
    #[serde(with = "crate::records::millis")]
    pub created_at: DateTime<Utc>,
    /// Per metric: spread of the score under test-time augmentation (score units).
    pub uncertainty: Option<IndexMap<String, f64>>,
}

/// One image with its latest AI draft and its current scores.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ImageRecord {
    pub id: i64,
    pub filename: String,
    pub serial: Option<String>,
    /// The sample group (serialised as `group`).
    #[serde(rename = "group")]
    pub group_name: Option<String>,
    pub image_number: Option<i64>,
    pub sha256: String,
    pub size_bytes: i64,
    pub width: Option<i64>,
    pub height: Option<i64>,
    pub format: Option<String>,
    pub status: ImageStatus,
    pub error: Option<String>,
    pub review_status: ReviewStatus,
    /// Bumped on every change; use it as the ETag and pass it back to `update_scores`.
    pub version: i64,
    #[serde(with = "crate::records::millis")]
    pub created_at: DateTime<Utc>,
    #[serde(with = "crate::records::millis")]
    pub updated_at: DateTime<Utc>,
    pub updated_by: String,
    #[serde(default, with = "crate::records::millis::option")]
    pub deleted_at: Option<DateTime<Utc>>,
    /// When it was last marked reviewed; `None` while unreviewed.
    #[serde(default, with = "crate::records::millis::option")]
    pub reviewed_at: Option<DateTime<Utc>>,
    /// Who marked it reviewed; `None` while unreviewed.
    #[serde(default)]
    pub reviewed_by: Option<String>,
    /// Physical size of a pixel in micrometres (the viewer's scale bar), when the file's
    /// resolution tags give it; a slide's is in `slide`.
    #[serde(default)]
    pub pixel_size_um: Option<f64>,
    /// Where the blob store keeps the file; `None` for a record without pixels (imported
    /// from the original system, until its file is uploaded).
    pub storage_key: Option<String>,
    /// What a person must check, per metric (e.g. an imported value outside the schema's
    /// range: "needs review"). A metric's entry goes when a person sets that metric.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub flags: BTreeMap<String, String>,
    /// "image" (a microscope field) or "slide" (a whole-slide image, scored field by field).
    #[serde(default = "image_kind")]
    pub kind: String,
    /// A slide's metadata: vendor, levels (width, height, downsample), microns per pixel
    /// (`mpp_x`, `mpp_y`), objective power, warnings. Absent for images.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub slide: Option<serde_json::Value>,
    /// A slide being scored: fields scored so far and fields to score.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub progress: Option<Progress>,
    /// A file registered in place (`histoscore import --in-place`): its path, size and
    /// modification time when registered. Absent for files kept in the blob store.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<SourceFile>,
    /// The most recent AI draft, if the image has been scored.
    pub draft: Option<Draft>,
    /// Current scores of reader "local", phase "final", keyed by metric name in **alphabetical
    /// order** (the store does not know the schema). Use [`ImageRecord::scores_in_schema_order`]
    /// to present them in schema order.
    pub scores: BTreeMap<String, f64>,
    /// Only in answers to a reader with an open read of this image in a blinded study (their
    /// blind score or the adjudication is not in yet): that study's id. Such a reader scores
    /// the image in the study; its official score is not theirs to change.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub locked_by_study: Option<i64>,
}

fn image_kind() -> String {
    "image".into()
}

impl ImageRecord {
    pub fn is_slide(&self) -> bool {
        self.kind == "slide"
    }

    /// The current scores in schema order; metrics the schema does not know are appended
    /// after the schema's metrics, alphabetically. Metrics without a score are left out.
    pub fn scores_in_schema_order(&self, schema: &Schema) -> Scores {
        let mut out = Scores::new();
        for m in &schema.metrics {
            if let Some(v) = self.scores.get(&m.name) {
                out.insert(m.name.clone(), *v);
            }
        }
        for (k, v) in &self.scores {
            if !out.contains_key(k) {
                out.insert(k.clone(), *v);
            }
        }
        out
    }

    pub fn is_deleted(&self) -> bool {
        self.deleted_at.is_some()
    }
}

/// What a client sends to change scores.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ScoreUpdate {
    /// The version the client read (the ETag); the update fails with `Conflict` otherwise.
    pub expected_version: i64,
    /// New values per metric; metrics left out keep their value.
    pub changes: Scores,
    /// `Some(true)` marks the image reviewed, `Some(false)` unreviewed, `None` leaves it.
    pub reviewed: Option<bool>,
    pub reason: Option<String>,
    /// Who makes the change (user name); recorded in the audit log.
    pub actor: String,
    /// Set when an adjudicator sets the final score within a study (audited as `adjudicate`).
    pub study_id: Option<i64>,
}

/// One row of the append-only audit log.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct AuditEntry {
    pub id: i64,
    #[serde(with = "crate::records::millis")]
    pub at: DateTime<Utc>,
    pub actor: String,
    pub image_id: Option<i64>,
    pub action: AuditAction,
    pub field: Option<String>,
    pub old_value: Option<String>,
    pub new_value: Option<String>,
    pub reason: Option<String>,
    /// The study the change was made in, if any.
    pub study_id: Option<i64>,
}

/// A background job: scoring an image, or a training run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Job {
    pub id: i64,
    pub kind: JobKind,
    /// The image a scoring job scores.
    pub image_id: Option<i64>,
    /// What the kind needs beyond the image, e.g. `{"run": 7}` for training.
    pub payload: Option<serde_json::Value>,
    pub state: JobState,
    /// How many times a worker has claimed it.
    pub attempts: i64,
    pub locked_by: Option<String>,
    pub locked_at: Option<DateTime<Utc>>,
    pub heartbeat: Option<DateTime<Utc>>,
    pub error: Option<String>,
    pub created_at: DateTime<Utc>,
    /// The registered model to score with; `None`: the active one.
    pub model_id: Option<String>,
}

/// How much work is waiting.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct QueueDepth {
    pub queued: i64,
    pub running: i64,
}

/// Filters, sort and page for [`crate::Store::list_images`] (and the filters for
/// [`crate::Store::group_summary`]). Soft-deleted images are never listed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ListQuery {
    /// Case-insensitive substring of filename, serial or group name.
    pub search: Option<String>,
    /// Group name prefix, case-insensitive (`s-36` matches S-3602 and S-3618).
    pub group: Option<String>,
    /// Retracted (soft-deleted) records instead of the live ones.
    pub deleted: bool,
    pub status: Option<ImageStatus>,
    pub review_status: Option<ReviewStatus>,
    /// Created at or after this instant.
    pub created_from: Option<DateTime<Utc>>,
    /// Created strictly before this instant.
    pub created_to: Option<DateTime<Utc>>,
    /// Has a draft from this model.
    pub model_id: Option<String>,
    /// Leave these images out (a blinded reader's coded study images).
    pub exclude_ids: Vec<i64>,
    pub sort: SortField,
    pub dir: SortDir,
    /// Page size, 1..=[`crate::MAX_PAGE`].
    pub limit: i64,
    pub offset: i64,
}

impl Default for ListQuery {
    fn default() -> Self {
        ListQuery {
            search: None,
            group: None,
            deleted: false,
            status: None,
            review_status: None,
            created_from: None,
            created_to: None,
            model_id: None,
            exclude_ids: Vec::new(),
            sort: SortField::Id,
            dir: SortDir::Asc,
            limit: 50,
            offset: 0,
        }
    }
}

/// Per-group statistics.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct GroupSummary {
    /// `None` for images without a group.
    pub group: Option<String>,
    pub count: i64,
    pub reviewed: i64,
    /// Mean current score per metric over the group's images that have one (alphabetical).
    pub means: BTreeMap<String, f64>,
}

/// One changed image, from [`crate::Store::changes_since`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Change {
    pub id: i64,
    pub status: ImageStatus,
    pub version: i64,
    pub deleted: bool,
    /// A slide being scored: fields done and to do.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub progress: Option<Progress>,
}

/// How far a slide's scoring has come.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Progress {
    pub done: i64,
    pub total: i64,
}
