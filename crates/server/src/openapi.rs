//! The OpenAPI document (`/api/openapi.json`), generated from the handlers' annotations, and
//! the interactive docs at `/docs` (Swagger UI, served from the binary: no internet needed).

use utoipa::OpenApi;

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Histoscore",
        description = "AI-assisted histopathology scoring: upload microscope images, get the model's \
            draft scores, correct them. Every change is versioned (ETag / If-Match) and audited.",
    ),
    paths(
        crate::config,
        crate::images::upload,
        crate::images::list,
        crate::images::get_image,
        crate::images::patch_scores,
        crate::images::delete,
        crate::images::restore,
        crate::images::rescore,
        crate::images::audit,
        crate::media::thumbnail,
        crate::media::preview_large,
        crate::media::dzi,
        crate::media::tile,
        crate::events::events,
        crate::export::export_csv,
        crate::export::export_json,
        crate::healthz,
        crate::readyz,
        crate::accounts::session,
        crate::accounts::login,
        crate::accounts::logout,
        crate::accounts::change_password,
        crate::accounts::list_users,
        crate::accounts::create_user,
        crate::accounts::patch_user,
        crate::studies::list,
        crate::studies::create,
        crate::studies::get,
        crate::studies::patch,
        crate::studies::images,
        crate::studies::add_images,
        crate::studies::open_read,
        crate::studies::submit_read,
        crate::studies::set_final,
        crate::studies::agreement,
        crate::studies::agreement_csv,
        crate::studies::export_csv,
        crate::studies::audit_csv,
        crate::models::list,
        crate::models::get,
        crate::models::import,
        crate::models::activate,
        crate::models::rollback,
        crate::models::safetensors,
        crate::models::onnx,
        crate::models::rescore,
        crate::models::drafts,
    ),
    components(schemas(
        crate::ErrorBody,
        crate::ConfigResponse,
        crate::images::UploadResult,
    )),
    tags(
        (name = "images", description = "Upload, review and correct"),
        (name = "export", description = "Everything, for spreadsheets and scripts"),
        (name = "service", description = "Health and configuration"),
        (name = "accounts", description = "Login, sessions and user management"),
        (name = "models", description = "Model registry: import, activate, roll back, export, re-score"),
        (name = "studies", description = "Reader studies, blinded reading, adjudication and agreement"),
    )
)]
pub struct ApiDoc;
