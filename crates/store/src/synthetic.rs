//! Synthetic records for benchmarks of listing and search over many images.

use super::*;

impl Store {
    /// Adds `count` synthetic scored records (no files, no jobs, no audit rows) in batches:
    /// for benchmarks of listing and search over many records, never for real data. Names
    /// follow the default serial pattern over 997 sample groups.
    pub async fn insert_synthetic_images(&self, count: usize, actor: &str) -> Result<()> {
        check_actor(actor)?;
        let at = now();
        let (_write, mut tx) = self.begin_write().await?;
        for start in (0..count).step_by(CHUNK) {
            let end = (start + CHUNK).min(count);
            let mut sql = String::from(
                "INSERT INTO images (filename, serial, group_name, image_number, sha256, \
                 size_bytes, width, height, format, status, review_status, version, created_at, \
                 updated_at, updated_by, search_text) VALUES ",
            );
            let mut rows = Vec::new();
            for i in start..end {
                let g = i % 997;
                let filename = format!("S-{g:04}-10X_Image{:03}_ch00.tif", i % 1000);
                let serial = format!("S-{g:04}-{:02}", i % 100);
                let group = format!("S-{g:04}");
                let search = format!("{filename} {serial} {group}").to_lowercase();
                let review = if i % 3 == 0 { "reviewed" } else { "unreviewed" };
                let n = rows.len() * 10;
                if !rows.is_empty() {
                    sql.push(',');
                }
                sql.push_str(&format!(
                    "(${}, ${}, ${}, ${}, ${}, 34000000, 4080, 2776, 'TIFF', 'scored', ${}, 1, \
                     ${}, ${}, ${}, ${})",
                    n + 1,
                    n + 2,
                    n + 3,
                    n + 4,
                    n + 5,
                    n + 6,
                    n + 7,
                    n + 8,
                    n + 9,
                    n + 10
                ));
                rows.push((
                    filename,
                    serial,
                    group,
                    (i % 1000) as i64,
                    format!("{:064x}", i + 1_000_000),
                    review,
                    search,
                ));
            }
            let mut q = sqlx::query(&sql);
            for (filename, serial, group, number, sha, review, search) in rows {
                q = q
                    .bind(filename)
                    .bind(serial)
                    .bind(group)
                    .bind(number)
                    .bind(sha)
                    .bind(review)
                    .bind(at.clone())
                    .bind(at.clone())
                    .bind(actor.to_string())
                    .bind(search);
            }
            q.execute(&mut *tx).await?;
        }
        tx.commit().await?;
        Ok(())
    }
}
