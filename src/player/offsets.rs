//! Latency offsets changed from the remote, and saved into the show file keeping its comments.

use super::*;

/// Sets `offset_ms` in the show file `file` to `ms`, keeping its comments and layout.
pub fn write_offset(file: &std::path::Path, ms: f64) -> Result<(), String> {
    let text = std::fs::read_to_string(file).map_err(|e| e.to_string())?;
    let mut doc: toml_edit::DocumentMut = text.parse().map_err(|e| format!("{e}"))?;
    set_offset_ms(doc.as_table_mut(), ms);
    crate::state_dir::write_atomic(file, doc.to_string().as_bytes()).map_err(|e| e.to_string())
}

/// Sets `offset_ms` in `table` to `ms` (a whole number when it is one), keeping the comment
/// after the old value.
fn set_offset_ms(table: &mut toml_edit::Table, ms: f64) {
    let value = if ms.fract() == 0.0 && ms.abs() < 1e9 {
        toml_edit::value(ms as i64)
    } else {
        toml_edit::value(ms)
    };
    match table.get_mut("offset_ms") {
        Some(item) => {
            let decor = item.as_value().map(|v| v.decor().clone());
            *item = value;
            if let (Some(decor), Some(v)) = (decor, item.as_value_mut()) {
                *v.decor_mut() = decor;
            }
        }
        None => {
            table.insert("offset_ms", value);
        }
    }
}

/// Sets `offset_ms` of the `[[output]]` table named `name` in the show file `file` to `ms`,
/// keeping its comments and layout.
pub fn write_output_offset(file: &std::path::Path, name: &str, ms: f64) -> Result<(), String> {
    let text = std::fs::read_to_string(file).map_err(|e| e.to_string())?;
    let mut doc: toml_edit::DocumentMut = text.parse().map_err(|e| format!("{e}"))?;
    let table = doc
        .get_mut("output")
        .and_then(|o| o.as_array_of_tables_mut())
        .and_then(|outputs| {
            outputs
                .iter_mut()
                .find(|t| t.get("name").and_then(|n| n.as_str()).map(str::trim) == Some(name))
        })
        .ok_or_else(|| format!("the show file has no [[output]] named \"{name}\""))?;
    set_offset_ms(table, ms);
    crate::state_dir::write_atomic(file, doc.to_string().as_bytes()).map_err(|e| e.to_string())
}

impl Player {
    /// Output `name`'s latency offset becomes `ms`: frames go out early by the largest of the
    /// outputs' offsets, and each output waits the difference.
    pub(super) fn output_offset(&mut self, name: &str, ms: f64, what: &str) {
        let lead_before = self.options.chase.offset_s * 1000.0;
        let Some(i) = self.show.outputs.iter().position(|o| o.name == name) else {
            let names: Vec<String> = self
                .show
                .outputs
                .iter()
                .map(|o| format!("'{}'", o.name))
                .collect();
            warn!(
                "{what}: there is no output '{name}' (the show's outputs: {})",
                if names.is_empty() {
                    "none".to_string()
                } else {
                    names.join(", ")
                }
            );
            return;
        };
        let before = self.show.outputs[i].offset_ms.unwrap_or(lead_before);
        self.show.outputs[i].offset_ms = Some(ms);
        let (lead, delays) = crate::outputs::delays_ms(&self.show.outputs, lead_before);
        self.options.chase.offset_s = lead / 1000.0;
        self.transport.set_offset_s(lead / 1000.0);
        self.stage.set_output_delays(
            delays
                .iter()
                .map(|d| Duration::from_secs_f64(d.max(0.0) / 1000.0))
                .collect(),
        );
        info!(
            "{what}: output '{name}': latency offset {before:+.1} ms -> {ms:+.1} ms (frames go \
             out {lead:+.1} ms early; {})",
            self.show
                .outputs
                .iter()
                .zip(&delays)
                .map(|(o, d)| format!("'{}' {d:.1} ms later", o.name))
                .collect::<Vec<_>>()
                .join(", ")
        );
    }

    /// Writes output `name`'s offset into its `[[output]]` table in the show file.
    pub(super) fn save_output_offset(&mut self, name: &str, what: &str) {
        let Some(file) = self.show.file.clone() else {
            warn!("{what}: there is no show file to save the offset in");
            return;
        };
        let Some(o) = self.show.outputs.iter().find(|o| o.name == name) else {
            warn!("{what}: there is no output '{name}'");
            return;
        };
        let ms =
            (o.offset_ms.unwrap_or(self.options.chase.offset_s * 1000.0) * 10.0).round() / 10.0;
        match write_output_offset(&file, name, ms) {
            Ok(()) => info!(
                "{what}: output '{name}': offset_ms = {ms} written to {}",
                file.display()
            ),
            Err(e) => error!("{what}: cannot save the offset in {}: {e}", file.display()),
        }
    }

    /// Writes the offset in force into the show file, keeping the rest of it as it is.
    pub(super) fn save_offset(&mut self, what: &str) {
        let Some(file) = self.show.file.clone() else {
            warn!("{what}: there is no show file to save the offset in (playhead was started on a video)");
            return;
        };
        let ms = (self.options.chase.offset_s * 1000.0 * 10.0).round() / 10.0;
        match write_offset(&file, ms) {
            Ok(()) => info!("{what}: offset_ms = {ms} written to {}", file.display()),
            Err(e) => error!("{what}: cannot save the offset in {}: {e}", file.display()),
        }
    }
}
