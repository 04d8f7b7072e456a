//! Draws detections into an rgb8 image (for `lookout detect --draw` and
//! debugging pictures). Never used on the per-frame path.

use super::Detection2d;

/// A distinct, stable colour per class.
fn color(class: u16) -> [u8; 3] {
    const PALETTE: [[u8; 3]; 8] = [
        [230, 25, 75],
        [60, 180, 75],
        [255, 225, 25],
        [0, 130, 200],
        [245, 130, 48],
        [145, 30, 180],
        [70, 240, 240],
        [240, 50, 230],
    ];
    PALETTE[class as usize % PALETTE.len()]
}

/// Outlines each detection's box, `thickness` pixels wide, clipped to the image.
pub fn draw_boxes(
    pixels: &mut [u8],
    width: u32,
    height: u32,
    detections: &[Detection2d],
    thickness: u32,
) {
    let (w, h) = (width as i64, height as i64);
    let mut put = |x: i64, y: i64, c: [u8; 3]| {
        if (0..w).contains(&x) && (0..h).contains(&y) {
            let i = ((y * w + x) * 3) as usize;
            pixels[i..i + 3].copy_from_slice(&c);
        }
    };
    for d in detections {
        let c = color(d.class);
        let [x0, y0, x1, y1] = d.bbox.map(|v| v.round() as i64);
        for t in 0..thickness as i64 {
            for x in x0..=x1 {
                put(x, y0 + t, c);
                put(x, y1 - t, c);
            }
            for y in y0..=y1 {
                put(x0 + t, y, c);
                put(x1 - t, y, c);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outlines_stay_inside_the_image() {
        let mut pixels = vec![0u8; 10 * 8 * 3];
        let d = Detection2d {
            class: 0,
            score: 1.0,
            bbox: [2.0, 1.0, 20.0, 5.0],
        };
        draw_boxes(&mut pixels, 10, 8, &[d], 1);
        let at = |x: usize, y: usize| &pixels[(y * 10 + x) * 3..(y * 10 + x) * 3 + 3];
        assert_eq!(at(2, 1), &color(0));
        assert_eq!(at(9, 5), &color(0));
        assert_eq!(at(5, 3), &[0, 0, 0]);
    }
}
