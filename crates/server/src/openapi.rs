//! The OpenAPI document's description, tags and shared schemas; the routes come from the route
//! table (`routes.rs`). Served at `/api/openapi.json` and as interactive docs at `/docs`
//! (Swagger UI, served from the binary: no internet needed).

use utoipa::OpenApi;

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Histoscore",
        description = "AI-assisted histopathology scoring: upload microscope images, get the model's \
            draft scores, correct them. Every change is versioned (ETag / If-Match) and audited. \
            Scripts authenticate with an API token (`Authorization: Bearer …`, made on the account \
            page or with `histoscore token create`); browsers with the session cookie.",
    ),
    components(schemas(
        crate::ErrorBody,
        crate::ConfigResponse,
        crate::upload::UploadResult,
    )),
    tags(
        (name = "images", description = "Upload, review and correct"),
        (name = "slides", description = "Whole-slide images: the fields they were scored on (JSON, CSV, GeoJSON)"),
        (name = "export", description = "Everything, for spreadsheets and scripts"),
        (name = "service", description = "Health and configuration"),
        (name = "accounts", description = "Login, sessions and user management"),
        (name = "models", description = "Model registry: import, activate, roll back, export, re-score"),
        (name = "studies", description = "Reader studies, blinded reading, adjudication and agreement"),
        (name = "compatibility", description = "The original system's API, for its page and scripts \
            (only with --original-api; with accounts, send an API token as Authorization: Bearer)"),
    )
)]
pub struct ApiDoc;
