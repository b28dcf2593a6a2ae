//! Every route, declared once: its handler (whose `#[utoipa::path]` gives the path, method and
//! OpenAPI entry), who may call it, and whether it is a quick JSON route (time-limited), a
//! stream (uploads, downloads, tiles, events) or an upload (large bodies). The router, the
//! OpenAPI document and the access table are all made from this one list.

use std::collections::HashMap;
use std::sync::OnceLock;

use axum::http::Method;
use histoscore_store::Role;
use utoipa::openapi::path::PathItem;
use utoipa::openapi::OpenApi as OpenApiDoc;
use utoipa::OpenApi;
use utoipa_axum::router::{OpenApiRouter, UtoipaMethodRouter};
use utoipa_axum::routes;

use crate::auth::Access;
use crate::{
    accounts, compat, events, export, images, media, registry_routes, resumable, retraining,
    slides, studies, training, upload,
};
use crate::{ApiDoc, AppState};

/// Who may call a group of routes.
#[derive(Debug, Clone, Copy)]
enum Rule {
    Public,
    LoggedIn,
    /// This role (or a higher one) for every method.
    Only(Role),
    /// Reading (GET) needs the first role, changing anything the second.
    ReadWrite(Role, Role),
}

impl Rule {
    fn access(self, method: &Method) -> Access {
        match self {
            Rule::Public => Access::Public,
            Rule::LoggedIn => Access::LoggedIn,
            Rule::Only(role) => Access::Role(role),
            Rule::ReadWrite(read, write) => {
                if matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS) {
                    Access::Role(read)
                } else {
                    Access::Role(write)
                }
            }
        }
    }
}

/// What a route does, for the layers it gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    /// JSON answered at once: a time limit applies.
    Quick,
    /// Streams (downloads, events, tiles): no time limit.
    Stream,
    /// Takes a file: no time limit, the upload size limit instead of the JSON one.
    Upload,
}

/// The routes of one kind, and what the table says of each.
pub(crate) struct Table {
    pub quick: OpenApiRouter<AppState>,
    pub stream: OpenApiRouter<AppState>,
    pub upload: OpenApiRouter<AppState>,
    /// (method, path as the router spells it) → who may call it.
    pub access: HashMap<(Method, String), Access>,
}

fn methods(item: &PathItem) -> Vec<Method> {
    [
        (Method::GET, item.get.is_some()),
        (Method::POST, item.post.is_some()),
        (Method::PUT, item.put.is_some()),
        (Method::PATCH, item.patch.is_some()),
        (Method::DELETE, item.delete.is_some()),
        (Method::HEAD, item.head.is_some()),
        (Method::OPTIONS, item.options.is_some()),
    ]
    .into_iter()
    .filter_map(|(m, present)| present.then_some(m))
    .collect()
}

impl Table {
    fn add(mut self, kind: Kind, rule: Rule, routes: UtoipaMethodRouter<AppState>) -> Self {
        for (path, item) in &routes.1.paths {
            for m in methods(item) {
                if m == Method::GET {
                    self.access
                        .insert((Method::HEAD, path.clone()), rule.access(&Method::HEAD));
                }
                let access = rule.access(&m);
                self.access.insert((m, path.clone()), access);
            }
        }
        let group = match kind {
            Kind::Quick => &mut self.quick,
            Kind::Stream => &mut self.stream,
            Kind::Upload => &mut self.upload,
        };
        *group = std::mem::take(group).routes(routes);
        self
    }

    /// Routes outside the OpenAPI document (the document itself, its viewer, metrics).
    fn plain(mut self, path: &str, rule: Rule) -> Self {
        self.access
            .insert((Method::GET, path.to_string()), rule.access(&Method::GET));
        self
    }
}

/// The one list of routes.
pub(crate) fn table() -> Table {
    use Kind::{Quick, Stream, Upload};
    use Role::{Admin, Pathologist, Viewer};
    use Rule::{LoggedIn, Only, Public, ReadWrite};
    let everyone = ReadWrite(Viewer, Pathologist);
    let admins_change = ReadWrite(Viewer, Admin);
    Table {
        quick: OpenApiRouter::new(),
        stream: OpenApiRouter::new(),
        upload: OpenApiRouter::new(),
        access: HashMap::new(),
    }
    // Service.
    .add(Stream, Public, routes!(crate::healthz))
    .add(Quick, Public, routes!(crate::readyz))
    .add(Quick, everyone, routes!(crate::config))
    .plain("/metrics", Public)
    .plain("/api/openapi.json", Public)
    // Images: upload, review, correct.
    .add(Upload, everyone, routes!(upload::upload, images::list))
    // Resumable uploads (tus 1.0), for whole-slide images: no time or body limit, each
    // request streams to disk.
    .add(
        Stream,
        everyone,
        routes!(resumable::options, resumable::create),
    )
    .add(
        Stream,
        everyone,
        routes!(resumable::head, resumable::patch, resumable::terminate),
    )
    .add(Quick, everyone, routes!(images::groups))
    .add(Quick, everyone, routes!(images::get_image, images::delete))
    .add(Quick, everyone, routes!(images::patch_scores))
    .add(Quick, everyone, routes!(images::restore))
    .add(Quick, Only(Admin), routes!(images::rescore))
    .add(Quick, everyone, routes!(images::audit))
    .add(Quick, everyone, routes!(registry_routes::drafts))
    .add(Stream, everyone, routes!(media::thumbnail))
    .add(Stream, everyone, routes!(media::preview_large))
    .add(Stream, everyone, routes!(media::dzi))
    .add(Stream, everyone, routes!(media::tile))
    // Whole-slide images: their fields.
    .add(Quick, everyone, routes!(slides::fields))
    .add(Quick, everyone, routes!(slides::roi))
    .add(Stream, everyone, routes!(slides::fields_csv))
    .add(Stream, everyone, routes!(slides::fields_geojson_route))
    .add(Stream, everyone, routes!(events::events))
    // Downloads.
    .add(Stream, everyone, routes!(export::export_csv))
    .add(Stream, everyone, routes!(export::export_json))
    .add(Stream, everyone, routes!(export::audit_csv))
    // Accounts.
    .add(Quick, Public, routes!(accounts::session))
    .add(Quick, Public, routes!(accounts::login))
    .add(Quick, LoggedIn, routes!(accounts::logout))
    .add(Quick, LoggedIn, routes!(accounts::change_password))
    .add(
        Quick,
        LoggedIn,
        routes!(accounts::list_tokens, accounts::create_token),
    )
    .add(Quick, LoggedIn, routes!(accounts::revoke_token))
    .add(
        Quick,
        Only(Admin),
        routes!(accounts::list_users, accounts::create_user),
    )
    .add(Quick, Only(Admin), routes!(accounts::patch_user))
    .add(Quick, Only(Admin), routes!(accounts::unlock_user))
    // Reader studies.
    .add(
        Quick,
        admins_change,
        routes!(studies::list, studies::create),
    )
    .add(Quick, admins_change, routes!(studies::get, studies::patch))
    .add(
        Quick,
        admins_change,
        routes!(studies::images, studies::add_images),
    )
    .add(
        Quick,
        Only(Pathologist),
        routes!(studies::open_read, studies::submit_read),
    )
    .add(Quick, Only(Pathologist), routes!(studies::active))
    .add(Quick, Only(Admin), routes!(studies::set_final))
    .add(Quick, admins_change, routes!(studies::agreement))
    .add(Stream, admins_change, routes!(export::agreement_csv))
    .add(Stream, admins_change, routes!(export::study_csv))
    // Model registry and training.
    .add(
        Upload,
        admins_change,
        routes!(registry_routes::import, registry_routes::list),
    )
    .add(Quick, admins_change, routes!(registry_routes::get))
    .add(Quick, admins_change, routes!(registry_routes::activate))
    .add(Quick, admins_change, routes!(registry_routes::set_field))
    .add(Quick, admins_change, routes!(registry_routes::rollback))
    .add(Quick, Only(Admin), routes!(registry_routes::rescore))
    .add(Stream, admins_change, routes!(registry_routes::safetensors))
    .add(Stream, admins_change, routes!(registry_routes::onnx))
    .add(
        Quick,
        admins_change,
        routes!(training::start, training::list),
    )
    .add(Quick, admins_change, routes!(training::get))
    .add(Quick, admins_change, routes!(training::cancel))
    // Automated retraining: policy, evaluation set, comparisons.
    .add(
        Quick,
        admins_change,
        routes!(retraining::get_policy, retraining::set_policy),
    )
    .add(Quick, Only(Admin), routes!(retraining::run_policy))
    .add(
        Quick,
        admins_change,
        routes!(
            retraining::get_evaluation_set,
            retraining::set_evaluation_set
        ),
    )
    .add(Quick, admins_change, routes!(retraining::evaluations))
    .add(Stream, Only(Admin), routes!(retraining::evaluate))
    .add(Stream, admins_change, routes!(retraining::evaluation_csv))
    // The original system's API (answers 404 unless --original-api).
    .add(Upload, everyone, routes!(compat::upload_image))
    .add(Upload, everyone, routes!(compat::upload_image_slash))
    .add(Quick, everyone, routes!(compat::update_scores))
    .add(Quick, Public, routes!(compat::health))
}

/// The OpenAPI document (`/api/openapi.json`): the description, tags and shared schemas of
/// [`ApiDoc`] with every route of the table.
pub fn openapi() -> OpenApiDoc {
    static DOC: OnceLock<OpenApiDoc> = OnceLock::new();
    DOC.get_or_init(|| {
        let t = table();
        let mut doc = ApiDoc::openapi();
        for part in [t.quick, t.stream, t.upload] {
            doc.merge(part.into_openapi());
        }
        unique_operation_ids(&mut doc);
        doc
    })
    .clone()
}

/// Operation ids are the handlers' names; where several handlers share a name (`list`,
/// `get`, `rescore`), each gets the first part of its path too (`list_studies`), so that
/// generated clients have one function per operation.
fn unique_operation_ids(doc: &mut OpenApiDoc) {
    fn ops(item: &mut PathItem) -> impl Iterator<Item = &mut utoipa::openapi::path::Operation> {
        [
            &mut item.get,
            &mut item.post,
            &mut item.put,
            &mut item.patch,
            &mut item.delete,
            &mut item.head,
            &mut item.options,
        ]
        .into_iter()
        .flatten()
    }
    let mut seen: HashMap<String, usize> = HashMap::new();
    for item in doc.paths.paths.values_mut() {
        for op in ops(item) {
            *seen
                .entry(op.operation_id.clone().unwrap_or_default())
                .or_default() += 1;
        }
    }
    for (path, item) in doc.paths.paths.iter_mut() {
        let part = path
            .split('/')
            .find(|s| !s.is_empty() && *s != "api" && !s.starts_with('{'))
            .unwrap_or("root")
            .replace('.', "_");
        for op in ops(item) {
            let id = op.operation_id.clone().unwrap_or_default();
            if seen.get(&id).copied().unwrap_or(0) > 1 {
                op.operation_id = Some(format!("{id}_{part}"));
            }
        }
    }
}

/// The access rule of a route (`path` as the router spells it, e.g. `/api/images/{id}`).
/// The API's documentation (`/docs`, Swagger UI) is public; routes not in the table need an
/// administrator.
pub fn access(method: &Method, path: &str) -> Access {
    static ACCESS: OnceLock<HashMap<(Method, String), Access>> = OnceLock::new();
    if path == "/docs" || path.starts_with("/docs/") {
        return Access::Public;
    }
    ACCESS
        .get_or_init(|| table().access)
        .get(&(method.clone(), path.to_string()))
        .copied()
        .unwrap_or(Access::Role(Role::Admin))
}
