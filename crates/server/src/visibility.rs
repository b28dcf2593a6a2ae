//! What a caller may see of image records and change of them, applied to every answer that
//! carries a record or an audit trail (reads and writes alike).
//!
//! - A reader of a blinded study sees no AI draft (and no score filled from it) of the study's
//!   images until their own blind score is in.
//! - A reader never sees another reader's scores: their study entries are left out of audit
//!   trails.
//! - A reader of a blinded study cannot change the official score of the study's images while
//!   their read is open (until their blind score is in and an adjudicator has set the final
//!   score): they score them in the study.
//!
//! - A reader of a blinded study sees neither the file name nor the group of the study's
//!   images while their read is open, but the image's study-local code, in every answer
//!   (records, audit trails, downloads); the history and its export leave those images out,
//!   so that a search by name cannot link a name to a code.
//!
//! Administrators (the adjudicators) and single-user mode see and change everything.

use std::collections::{HashMap, HashSet};

use axum::http::StatusCode;
use histoscore_store::{AuditAction, AuditEntry, ImageRecord, Role};

use crate::auth::Caller;
use crate::{ApiError, AppState};

/// What a blinded reader sees as an image's name: `case 3-007` (study 3, seventh code).
pub(crate) fn coded_name(code: &str) -> String {
    format!("case {code}")
}

/// Study-reading audit actions: one reader's own scores.
const READER_ACTIONS: [AuditAction; 3] = [
    AuditAction::BlindScore,
    AuditAction::ReaderScore,
    AuditAction::ReaderRevise,
];

/// The caller's view of images.
#[derive(Debug, Default, Clone)]
pub(crate) struct View {
    /// Images whose AI draft and official score are hidden (blind score not in).
    pub hidden: HashSet<i64>,
    /// Images whose official score the caller may not change: image → blinded study.
    locked: HashMap<i64, i64>,
    /// Studies the caller reads in (their fellow readers' entries are not theirs to see).
    reads_in: HashSet<i64>,
    /// The caller's name (their own audit entries are always shown).
    name: String,
    /// Images whose name and group the caller may not see: image → its study-local code.
    codes: HashMap<i64, String>,
}

impl View {
    /// The view of `caller`; one query per kind of restriction, none for administrators.
    pub async fn of(s: &AppState, caller: &Caller) -> Result<Self, ApiError> {
        let mut v = View {
            name: caller.name.clone(),
            ..View::default()
        };
        if caller.single_user || caller.role == Role::Admin {
            return Ok(v);
        }
        for r in s.store.blinded_reads(&caller.name).await? {
            if !r.submitted {
                v.hidden.insert(r.image_id);
            }
            // Open until both the reader's blind score and the adjudication are in.
            if !(r.submitted && r.adjudicated) {
                v.locked.entry(r.image_id).or_insert(r.study_id);
                v.codes.entry(r.image_id).or_insert(r.code);
            }
        }
        v.reads_in = s.store.studies_read_by(&caller.name).await?;
        Ok(v)
    }

    /// Blanks what the caller must not see of a record and marks what they may not change.
    pub fn record(&self, r: &mut ImageRecord) {
        histoscore_app::export::mask(r, &self.hidden);
        r.locked_by_study = self.locked.get(&r.id).copied();
        if let Some(code) = self.codes.get(&r.id) {
            r.filename = coded_name(code);
            r.serial = None;
            r.group_name = None;
            r.image_number = None;
            r.source = None;
        }
    }

    /// The study-local code that stands for the image's name, if the caller may not see it.
    pub fn code(&self, image_id: i64) -> Option<String> {
        self.codes.get(&image_id).map(|c| coded_name(c))
    }

    /// Images the history and its export leave out for this caller (their names are coded).
    pub fn coded_ids(&self) -> Vec<i64> {
        let mut ids: Vec<i64> = self.codes.keys().copied().collect();
        ids.sort_unstable();
        ids
    }

    /// Refuses a change of the image's official score (scores, review state, retraction) by a
    /// reader of a blinded study that holds it.
    pub fn may_change(&self, image_id: i64) -> Result<(), ApiError> {
        match self.locked.get(&image_id) {
            None => Ok(()),
            Some(study) => Err(ApiError::new(
                StatusCode::FORBIDDEN,
                "blinded_read",
                format!(
                    "you read image {image_id} in blinded study {study}: score it there \
                     (Studies → study {study}); its official score is set by the adjudicator"
                ),
            )
            .with(serde_json::json!({"study_id": study}))),
        }
    }

    /// The part of an image's audit trail the caller may see: before their blind score only
    /// the upload and their own entries; never another reader's study scores.
    pub fn audit(&self, image_id: i64, entries: &mut Vec<AuditEntry>) {
        if let Some(code) = self.code(image_id) {
            // The names it was uploaded under are coded too.
            for e in entries.iter_mut() {
                if e.field.as_deref() == Some("filename") {
                    e.old_value = e.old_value.as_ref().map(|_| code.clone());
                    e.new_value = e.new_value.as_ref().map(|_| code.clone());
                }
            }
        }
        if self.hidden.contains(&image_id) {
            entries.retain(|e| e.actor == self.name || e.action == AuditAction::Create);
            return;
        }
        entries.retain(|e| {
            e.actor == self.name
                || !READER_ACTIONS.contains(&e.action)
                || e.study_id.is_none_or(|s| !self.reads_in.contains(&s))
        });
    }

    /// Whether the caller reads in any study.
    pub fn is_reader(&self) -> bool {
        !self.reads_in.is_empty()
    }
}
