//! Size arguments as truncate(1) reads them.

/// Parses "10G", "512M", "4096", "1KB" (K/M/G/T = 1024^n, KB/MB/GB/TB = 1000^n).
pub fn parse_size(s: &str) -> Result<u64, String> {
    let s = s.trim();
    let digits = s.chars().take_while(char::is_ascii_digit).count();
    if digits == 0 {
        return Err(format!("invalid size '{s}': it must start with a number"));
    }
    let (num, suffix) = s.split_at(digits);
    let n: u64 = num
        .parse()
        .map_err(|_| format!("invalid size '{s}': number too large"))?;
    let mult: u64 = match suffix.to_ascii_uppercase().as_str() {
        "" | "B" => 1,
        "K" | "KIB" => 1 << 10,
        "M" | "MIB" => 1 << 20,
        "G" | "GIB" => 1 << 30,
        "T" | "TIB" => 1 << 40,
        "P" | "PIB" => 1 << 50,
        "KB" => 1000,
        "MB" => 1_000_000,
        "GB" => 1_000_000_000,
        "TB" => 1_000_000_000_000,
        _ => return Err(format!("invalid size '{s}': unknown suffix '{suffix}'")),
    };
    n.checked_mul(mult)
        .filter(|v| *v <= i64::MAX as u64)
        .ok_or_else(|| format!("invalid size '{s}': too large"))
}

#[cfg(test)]
mod tests {
    use super::parse_size;

    #[test]
    fn sizes() {
        assert_eq!(parse_size("10G"), Ok(10 << 30));
        assert_eq!(parse_size("1KB"), Ok(1000));
        assert_eq!(parse_size("0"), Ok(0));
        assert!(parse_size("x").is_err());
        assert!(parse_size("10Q").is_err());
        assert!(parse_size("99999999999999999999").is_err());
        assert!(parse_size("9999999999T").is_err());
    }
}
