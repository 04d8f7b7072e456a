//! Configuration validation: the one error every configuration section
//! returns, named by its full path in the file (`lidar.classes.car_size`,
//! `scheduler.camera.budget_ms`), and the checks the sections share.
//!
//! Owns the error type and the shared checks only. Never depends on a
//! section: sections (lidar, scheduler, fusion, eval, ...) depend on this
//! module, and the file that gathers them ([`crate::config`]) sits above
//! them all.

/// A parameter that failed validation, named by its place in the file.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{path}: {problem}")]
pub struct ConfigError {
    /// Dotted path of the parameter (`lidar.min_range`).
    pub path: String,
    pub problem: String,
}

impl ConfigError {
    pub fn new(path: impl Into<String>, problem: impl Into<String>) -> Self {
        ConfigError {
            path: path.into(),
            problem: problem.into(),
        }
    }

    /// The same error one level down, inside `parent`
    /// (`min_range` within `lidar` is `lidar.min_range`).
    pub fn within(mut self, parent: &str) -> Self {
        self.path = if self.path.is_empty() {
            parent.to_owned()
        } else {
            format!("{parent}.{}", self.path)
        };
        self
    }
}

/// One section's checks: errors are named `section.field`.
#[derive(Debug, Clone, Copy)]
pub struct Section(pub &'static str);

impl Section {
    pub fn err(self, field: &str, problem: impl Into<String>) -> ConfigError {
        ConfigError::new(format!("{}.{field}", self.0), problem)
    }

    /// A finite number above 0.
    pub fn positive(self, field: &str, value: f64) -> Result<(), ConfigError> {
        if value.is_finite() && value > 0.0 {
            Ok(())
        } else {
            Err(self.err(field, format!("must be positive and finite, got {value}")))
        }
    }

    /// A finite number, 0 or above.
    pub fn non_negative(self, field: &str, value: f64) -> Result<(), ConfigError> {
        if value.is_finite() && value >= 0.0 {
            Ok(())
        } else {
            Err(self.err(field, format!("must be >= 0 and finite, got {value}")))
        }
    }

    /// `[lo, hi]` with finite ends, `lo < hi` (`lo <= hi` when `closed`).
    pub fn interval(
        self,
        field: &str,
        [lo, hi]: [f64; 2],
        closed: bool,
    ) -> Result<(), ConfigError> {
        let ordered = if closed { lo <= hi } else { lo < hi };
        if lo.is_finite() && hi.is_finite() && ordered {
            Ok(())
        } else {
            Err(self.err(field, format!("[{lo}, {hi}] is not an interval")))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_name_the_full_path() {
        let lidar = Section("lidar");
        let e = lidar.positive("max_range", -1.0).unwrap_err();
        assert_eq!(
            e.to_string(),
            "lidar.max_range: must be positive and finite, got -1"
        );
        let e = e.within("sensors.front");
        assert_eq!(e.path, "sensors.front.lidar.max_range");
        assert!(lidar.non_negative("min_range", 0.0).is_ok());
        assert!(lidar.non_negative("min_range", f64::NAN).is_err());
        assert!(lidar.interval("roi_x", [1.0, 1.0], true).is_ok());
        assert!(lidar.interval("roi_x", [1.0, 1.0], false).is_err());
    }
}
