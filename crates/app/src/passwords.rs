//! Passwords: argon2id hashes (PHC strings) and the rules a new password must meet.

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;

use crate::AppError;

/// A new API token for scripts: `hst_` (recognisable in logs and by secret scanners) and 32
/// random bytes in hex.
pub fn new_api_token() -> String {
    let mut b = [0u8; 32];
    getrandom::fill(&mut b).expect("the operating system's random source failed");
    format!("hst_{}", hex::encode(b))
}

/// What the database keeps of a session or API token: its SHA-256, hex. (The tokens are 256
/// random bits, so a fast hash is enough; passwords get argon2id.)
pub fn token_hash(token: &str) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(token.as_bytes()))
}

/// The shortest password accepted (NIST SP 800-63B asks for at least 8).
pub const MIN_PASSWORD: usize = 10;

/// An argon2id hash (PHC string) of a password.
pub fn hash_password(password: &str) -> Result<String, AppError> {
    let mut salt = [0u8; 16];
    getrandom::fill(&mut salt)
        .map_err(|e| AppError::Failed(format!("no randomness for a password salt: {e}")))?;
    let salt = SaltString::encode_b64(&salt).map_err(AppError::failed)?;
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| AppError::Failed(format!("hashing the password failed: {e}")))
}

/// Whether `password` matches the stored hash.
pub fn verify_password(password: &str, hash: &str) -> bool {
    PasswordHash::new(hash)
        .map(|h| {
            Argon2::default()
                .verify_password(password.as_bytes(), &h)
                .is_ok()
        })
        .unwrap_or(false)
}

/// What is wrong with a new password, in words for people (NIST SP 800-63B: a minimum
/// length, no composition rules, no blank, no user name, nothing on the common-password lists
/// or as guessable; the lists are zxcvbn's, built into the binary).
pub fn password_problem(password: &str, user_name: &str) -> Option<String> {
    let n = password.chars().count();
    if n < MIN_PASSWORD {
        return Some(format!(
            "the password must have at least {MIN_PASSWORD} characters (it has {n})"
        ));
    }
    if password.trim().is_empty() {
        return Some("the password cannot be only spaces".into());
    }
    let lower = password.to_lowercase();
    let name = user_name.trim().to_lowercase();
    if !name.is_empty() && lower.contains(&name) {
        return Some("the password must not contain the user name".into());
    }
    let estimate = zxcvbn::zxcvbn(password, &[user_name, "histoscore"]);
    if u8::from(estimate.score()) < 2 {
        let why = estimate
            .feedback()
            .and_then(|f| f.warning())
            .map(|w| format!(" ({w})"))
            .unwrap_or_default();
        return Some(format!(
            "this password is too easy to guess{why}; a few unrelated words make a strong one"
        ));
    }
    None
}

/// [`password_problem`] as an error naming the `password` field.
pub fn check_password(password: &str, user_name: &str) -> Result<(), AppError> {
    match password_problem(password, user_name) {
        None => Ok(()),
        Some(detail) => Err(AppError::invalid("password", detail)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_hash_and_verify() {
        let h = hash_password("correct horse battery").unwrap();
        assert!(h.starts_with("$argon2id$"));
        assert!(verify_password("correct horse battery", &h));
        assert!(!verify_password("correct horse batterY", &h));
        assert!(!verify_password("x", "not a hash"));
    }

    #[test]
    fn password_rules() {
        assert!(password_problem("correct horse battery", "ada").is_none());
        assert!(password_problem("e2e-password-0001", "reader1").is_none());
        let short = password_problem("short", "ada").unwrap();
        assert!(short.contains("at least 10"), "{short}");
        assert!(
            password_problem("          ", "ada").is_some(),
            "ten spaces"
        );
        assert!(password_problem("                    ", "ada").is_some());
        assert!(password_problem("xx-Margaret-Hamilton-7", "margaret").is_some());
        for common in [
            "password123",
            "1234567890",
            "qwertyuiop",
            "iloveyou12",
            "aaaaaaaaaaaa",
        ] {
            let why = password_problem(common, "ada");
            assert!(why.is_some(), "{common} is common");
        }
    }
}
