//! The query plans of the history's hot queries, as the database chooses them, so that a test
//! on a large database can check that the indexes are used on both backends.

use super::*;

/// One query of a history page and the plan the database chose for it.
#[derive(Debug, Clone)]
pub struct QueryPlan {
    /// Which query: `count`, `page`, `group_summary`, `page_scores`, `page_drafts`.
    pub query: &'static str,
    /// SQLite: the `EXPLAIN QUERY PLAN` lines; PostgreSQL: the `EXPLAIN` lines.
    pub plan: String,
}

impl Store {
    /// The plans of the queries that one history page `q` runs, with `ids` the page's records
    /// and `groups` their groups (what `GET /api/images` summarises for `metrics`).
    pub async fn history_query_plans(
        &self,
        q: &ListQuery,
        ids: &[i64],
        groups: &[Option<String>],
        metrics: &[&str],
    ) -> Result<Vec<QueryPlan>> {
        let queries = [
            ("count", count_sql(q)),
            ("page", page_sql(q)),
            ("group_summary", group_sql(q, None, Some(groups), metrics)),
            ("page_scores", scores_sql(ids)),
            ("page_drafts", drafts_sql(ids)),
        ];
        let mut plans = Vec::new();
        for (query, mut sql) in queries {
            let prefix = match self.backend {
                Backend::Sqlite => "EXPLAIN QUERY PLAN ",
                Backend::Postgres => "EXPLAIN ",
            };
            sql.text.insert_str(0, prefix);
            let rows = sql.query().fetch_all(&self.pool).await?;
            let lines = rows
                .iter()
                .map(|r| match self.backend {
                    // id, parent, notused, detail
                    Backend::Sqlite => r.try_get::<String, _>(3),
                    Backend::Postgres => r.try_get::<String, _>(0),
                })
                .collect::<Result<Vec<_>, _>>()?;
            plans.push(QueryPlan {
                query,
                plan: lines.join("\n"),
            });
        }
        Ok(plans)
    }

    /// Brings the database to the state one in use is in: the planner's statistics
    /// (`ANALYZE`), and on PostgreSQL what autovacuum keeps up (`VACUUM`: the visibility map
    /// for index-only scans, GIN indexes' pending entries merged, so that the planner does not
    /// weigh a trigram search by a freshly filled pending list).
    pub async fn analyze(&self) -> Result<()> {
        let sql = match self.backend {
            Backend::Postgres => "VACUUM ANALYZE",
            Backend::Sqlite => "ANALYZE",
        };
        sqlx::query(sql).execute(&self.pool).await?;
        Ok(())
    }
}
