//! What `keta eval` writes: every metric over the replications (mean and 95% interval) for the
//! real test clips and for the model, as JSON and as a Markdown table.

use serde::Serialize;

use crate::error::Result;
use crate::metrics::Replications;
use crate::protocol::{ProtocolOptions, Timing};

/// The metrics of one replication.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Values {
    pub top1: f64,
    pub top2: f64,
    pub top3: f64,
    pub mm_dist: f64,
    pub fid: f64,
    pub diversity: f64,
    pub multimodality: Option<f64>,
    pub kp_accuracy: Option<f64>,
    /// Motions left out because they were not finite.
    pub non_finite: usize,
}

/// One row's replications, in order.
#[derive(Debug, Clone, Default)]
pub struct RowValues(Vec<Values>);

impl RowValues {
    pub fn push(&mut self, v: Values) {
        self.0.push(v);
    }

    fn summary(&self) -> Result<Row> {
        let take = |f: fn(&Values) -> f64| Replications::new(self.0.iter().map(f).collect());
        let optional = |f: fn(&Values) -> Option<f64>| {
            let v: Vec<f64> = self.0.iter().filter_map(f).collect();
            if v.is_empty() {
                Ok(None)
            } else {
                Replications::new(v).map(Some)
            }
        };
        Ok(Row {
            r_precision_top1: take(|v| v.top1)?,
            r_precision_top2: take(|v| v.top2)?,
            r_precision_top3: take(|v| v.top3)?,
            fid: take(|v| v.fid)?,
            mm_dist: take(|v| v.mm_dist)?,
            diversity: take(|v| v.diversity)?,
            multimodality: optional(|v| v.multimodality)?,
            kp_accuracy: optional(|v| v.kp_accuracy)?,
            non_finite_motions: self.0.iter().map(|v| v.non_finite).sum(),
        })
    }
}

/// One row of the table.
#[derive(Debug, Clone, Serialize)]
pub struct Row {
    pub r_precision_top1: Replications,
    pub r_precision_top2: Replications,
    pub r_precision_top3: Replications,
    pub fid: Replications,
    pub mm_dist: Replications,
    pub diversity: Replications,
    pub multimodality: Option<Replications>,
    pub kp_accuracy: Option<Replications>,
    /// Generated motions with NaN/Inf frames, left out of every metric (never averaged in).
    pub non_finite_motions: usize,
}

/// The whole evaluation.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// "keta" (our evaluator, trained on our data: not comparable with published numbers) or
    /// "humanml3d" (the official evaluator, converted).
    pub evaluator: String,
    pub replications: usize,
    pub motions_per_replication: usize,
    pub seeds: Vec<u64>,
    pub sampling: serde_json::Value,
    pub ground_truth: Row,
    pub model: Row,
    pub timing: Timing,
}

impl Report {
    pub(crate) fn new(
        gt: RowValues,
        model: RowValues,
        motions: usize,
        opts: &ProtocolOptions,
        timing: Timing,
        evaluator: &str,
    ) -> Result<Self> {
        let s = &opts.sample;
        Ok(Report {
            evaluator: evaluator.to_string(),
            replications: opts.replications,
            motions_per_replication: motions,
            seeds: (0..opts.replications as u64)
                .map(|r| opts.seed.wrapping_add(r))
                .collect(),
            sampling: serde_json::json!({
                "steps": s.steps, "guidance": s.guidance, "sampler": s.sampler,
                "refine_rounds": s.refine_rounds, "refine_from": s.refine_from,
                "mm_replications": opts.mm_replications, "mm_captions": opts.mm_captions,
                "mm_generations": opts.mm_generations, "kp_replications": opts.kp_replications,
            }),
            ground_truth: gt.summary()?,
            model: model.summary()?,
            timing,
        })
    }

    /// The reference tables' layout, one line per row, `mean ± interval`.
    pub fn markdown(&self, model_name: &str) -> String {
        let mut s = String::from(
            "| | R-precision top-1 | top-2 | top-3 | FID | MM-Dist | Diversity | MultiModality | KP accuracy |\n|---|---|---|---|---|---|---|---|---|\n",
        );
        for (name, row) in [
            ("real test clips", &self.ground_truth),
            (model_name, &self.model),
        ] {
            let f = |r: &Replications| format!("{:.3} ± {:.3}", r.mean, r.interval95);
            let o = |r: &Option<Replications>| r.as_ref().map_or("-".to_string(), f);
            s += &format!(
                "| {name} | {} | {} | {} | {} | {} | {} | {} | {} |\n",
                f(&row.r_precision_top1),
                f(&row.r_precision_top2),
                f(&row.r_precision_top3),
                f(&row.fid),
                f(&row.mm_dist),
                f(&row.diversity),
                o(&row.multimodality),
                o(&row.kp_accuracy),
            );
        }
        s
    }
}
