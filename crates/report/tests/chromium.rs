//! The report rendered by a real browser: headless Chromium (Debian's `chromium` package)
//! takes a screenshot of the example's page and dumps its DOM; the screenshot must not be
//! blank and the page's text must name every metric and every treatment.
//!
//! The browser is `$FLAGSTONE_CHROMIUM`, else `/usr/bin/chromium`. Without it the test fails
//! and says how to install it. The test runs with the `chromium` feature, which `.ci/run`
//! turns on after installing the browser:
//! `cargo test -p flagstone-report --features chromium`.
#![cfg(feature = "chromium")]

#[cfg(test)]
mod support {
    use std::collections::HashSet;
    use std::path::{Path, PathBuf};
    use std::process::{Command, Output, Stdio};
    use std::time::{Duration, Instant};

    pub fn chromium() -> PathBuf {
        let path = std::env::var_os("FLAGSTONE_CHROMIUM")
            .map_or_else(|| PathBuf::from("/usr/bin/chromium"), PathBuf::from);
        assert!(
            path.exists(),
            "no Chromium at {}: install Debian's package (`apt-get install -y chromium`) or set \
             FLAGSTONE_CHROMIUM to a Chromium binary",
            path.display()
        );
        path
    }

    /// Runs headless Chromium on `page` with `extra` flags, in a fresh profile, with no
    /// network traffic of its own; kills it after two minutes.
    pub fn run(page: &Path, profile: &Path, extra: &[&str]) -> Output {
        let mut child = Command::new(chromium())
            .args([
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--hide-scrollbars",
                "--window-size=1200,2000",
            ])
            .arg(format!("--user-data-dir={}", profile.display()))
            .args(extra)
            .arg(format!("file://{}", page.display()))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start chromium");
        let start = Instant::now();
        while child.try_wait().expect("wait for chromium").is_none() {
            if start.elapsed() > Duration::from_secs(120) {
                let _ = child.kill();
                panic!("chromium did not finish within 120 s");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let out = child.wait_with_output().expect("chromium output");
        assert!(out.status.success(), "chromium failed: {}", String::from_utf8_lossy(&out.stderr));
        out
    }

    /// A decoded screenshot: width, height and one RGB triple per pixel.
    pub struct Image {
        pub width: u32,
        pub height: u32,
        pub pixels: Vec<[u8; 3]>,
    }

    pub fn decode_png(path: &Path) -> Image {
        let file = std::fs::File::open(path).expect("open screenshot");
        let mut reader =
            png::Decoder::new(std::io::BufReader::new(file)).read_info().expect("png header");
        let mut buf = vec![0; reader.output_buffer_size().expect("png size")];
        let info = reader.next_frame(&mut buf).expect("png frame");
        assert_eq!(info.bit_depth, png::BitDepth::Eight, "8-bit screenshot");
        let channels = match info.color_type {
            png::ColorType::Rgb => 3,
            png::ColorType::Rgba => 4,
            other => panic!("unexpected colour type {other:?}"),
        };
        let pixels =
            buf[..info.buffer_size()].chunks_exact(channels).map(|p| [p[0], p[1], p[2]]).collect();
        Image { width: info.width, height: info.height, pixels }
    }

    impl Image {
        pub fn distinct_colours(&self) -> usize {
            self.pixels.iter().collect::<HashSet<_>>().len()
        }

        pub fn count(&self, colour: [u8; 3]) -> usize {
            self.pixels.iter().filter(|p| **p == colour).count()
        }
    }

    /// The text of an HTML document: tags dropped, the entities the report uses decoded,
    /// white space collapsed to single spaces.
    pub fn text_of(html: &str) -> String {
        let mut text = String::new();
        let mut in_tag = false;
        for c in html.chars() {
            match c {
                '<' => in_tag = true,
                '>' if in_tag => {
                    in_tag = false;
                    text.push(' ');
                }
                c if !in_tag => text.push(c),
                _ => {}
            }
        }
        let text = text
            .replace("&lt;", "<")
            .replace("&gt;", ">")
            .replace("&quot;", "\"")
            .replace("&amp;", "&");
        text.split_whitespace().collect::<Vec<_>>().join(" ")
    }
}

use flagstone_report::{ReportOptions, render_html};
use flagstone_stats::analysis::{AnalysisRequest, analyze};
use support::{decode_png, run, text_of};

#[test]
fn chromium_renders_the_example_report() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../examples/analysis.json");
    let request: AnalysisRequest =
        serde_json::from_str(&std::fs::read_to_string(path).expect("example")).expect("request");
    let result = analyze(&request).expect("analysis");
    let html = render_html(&request, &result, &ReportOptions::default());

    let dir = tempfile::tempdir().expect("temp dir");
    let page = dir.path().join("report.html");
    std::fs::write(&page, &html).expect("write page");

    // The screenshot: a page, not a blank (white or single-colour) window.
    let shot = dir.path().join("shot.png");
    run(&page, &dir.path().join("profile-shot"), &[&format!("--screenshot={}", shot.display())]);
    let image = decode_png(&shot);
    assert_eq!((image.width, image.height), (1200, 2000));
    let white = image.count([255, 255, 255]);
    let inked = image.pixels.len() - white;
    assert!(
        inked > image.pixels.len() / 20,
        "only {inked} of {} pixels are not white",
        image.pixels.len()
    );
    let colours = image.distinct_colours();
    assert!(colours > 200, "{colours} distinct colours: text and plots are anti-aliased");
    // The status colours of the plots and badges are drawn: green (one-click is better on
    // checkout-conversion) and red (express is inferior on page-load-ms).
    assert!(image.count([0x1a, 0x7f, 0x37]) > 500, "the 'better' green is on screen");
    assert!(image.count([0xcf, 0x22, 0x2e]) > 100, "the 'inferior' red is on screen");

    // The DOM as the browser built it holds every metric and every treatment as text, inside
    // the plots (SVG text) as well as in the page.
    let dom = run(&page, &dir.path().join("profile-dom"), &["--dump-dom"]);
    let dom = String::from_utf8(dom.stdout).expect("utf-8 DOM");
    assert!(dom.contains("<svg"), "the forest plots are in the DOM");
    assert_eq!(dom.matches("<svg").count(), request.metrics.len());
    let text = text_of(&dom);
    for metric in &request.metrics {
        assert!(text.contains(&metric.id), "the page's text names metric {}", metric.id);
    }
    for variant in &request.variants {
        assert!(text.contains(&variant.name), "the page's text names variant {}", variant.name);
        if variant.name != request.control {
            let in_plots = dom.matches(&format!("{}\n</text>", variant.name)).count();
            assert_eq!(
                in_plots,
                request.metrics.len(),
                "{} labels a row of every plot",
                variant.name
            );
        }
    }
    assert!(text.contains("is better than control on checkout-conversion"));
}
