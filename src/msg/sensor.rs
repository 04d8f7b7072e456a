//! `sensor_msgs` types: Image, CompressedImage, CameraInfo, PointCloud2.

use super::{Encode, Header, MessageType};
use crate::cdr::{CdrReader, CdrWriter, DecodeError};

/// Most point fields a PointCloud2 may declare (real drivers use 4-12).
pub const MAX_POINT_FIELDS: usize = 32;
/// Most distortion coefficients a CameraInfo may carry (rational_polynomial
/// uses 8, thin-prism models up to 14).
pub const MAX_DISTORTION: usize = 16;

/// `sensor_msgs/Image`; `data` borrows the input buffer.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Image<'a> {
    pub header: Header<'a>,
    pub height: u32,
    pub width: u32,
    pub encoding: &'a str,
    pub is_bigendian: u8,
    pub step: u32,
    pub data: &'a [u8],
}

impl MessageType for Image<'_> {
    const TYPE_NAME: &'static str = "sensor_msgs/msg/Image";
}

impl<'a> Image<'a> {
    /// Decodes the layout only; pixel-format checks live in
    /// [`crate::frames::CameraFrame::from_image`].
    pub fn decode(message: &'a [u8]) -> Result<Self, DecodeError> {
        let mut r = CdrReader::new(message)?;
        let image = Image {
            header: Header::decode(&mut r, "Image.header.stamp", "Image.header.frame_id")?,
            height: r.u32("Image.height")?,
            width: r.u32("Image.width")?,
            encoding: r.string("Image.encoding")?,
            is_bigendian: r.u8("Image.is_bigendian")?,
            step: r.u32("Image.step")?,
            data: r.byte_sequence("Image.data")?,
        };
        r.finish("Image")?;
        let expected = image.step as u64 * image.height as u64;
        if image.data.len() as u64 != expected {
            return Err(DecodeError::inconsistent(
                "Image.data",
                format!(
                    "{} bytes, but step {} x height {} = {expected}",
                    image.data.len(),
                    image.step,
                    image.height
                ),
            ));
        }
        Ok(image)
    }
}

impl Encode for Image<'_> {
    fn encode_fields(&self, w: &mut CdrWriter) {
        self.header.encode(w);
        w.u32(self.height)
            .u32(self.width)
            .string(self.encoding)
            .u8(self.is_bigendian)
            .u32(self.step)
            .bytes(self.data);
    }
}

/// `sensor_msgs/CompressedImage`; `data` borrows the input buffer.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CompressedImage<'a> {
    pub header: Header<'a>,
    pub format: &'a str,
    pub data: &'a [u8],
}

impl MessageType for CompressedImage<'_> {
    const TYPE_NAME: &'static str = "sensor_msgs/msg/CompressedImage";
}

impl<'a> CompressedImage<'a> {
    pub fn decode(message: &'a [u8]) -> Result<Self, DecodeError> {
        let mut r = CdrReader::new(message)?;
        let image = CompressedImage {
            header: Header::decode(
                &mut r,
                "CompressedImage.header.stamp",
                "CompressedImage.header.frame_id",
            )?,
            format: r.string("CompressedImage.format")?,
            data: r.byte_sequence("CompressedImage.data")?,
        };
        r.finish("CompressedImage")?;
        Ok(image)
    }
}

impl Encode for CompressedImage<'_> {
    fn encode_fields(&self, w: &mut CdrWriter) {
        self.header.encode(w);
        w.string(self.format).bytes(self.data);
    }
}

/// `sensor_msgs/RegionOfInterest`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RegionOfInterest {
    pub x_offset: u32,
    pub y_offset: u32,
    pub height: u32,
    pub width: u32,
    pub do_rectify: bool,
}

/// `sensor_msgs/CameraInfo`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CameraInfo<'a> {
    pub header: Header<'a>,
    pub height: u32,
    pub width: u32,
    pub distortion_model: &'a str,
    d: [f64; MAX_DISTORTION],
    d_len: usize,
    pub k: [f64; 9],
    pub r: [f64; 9],
    pub p: [f64; 12],
    pub binning_x: u32,
    pub binning_y: u32,
    pub roi: RegionOfInterest,
}

impl MessageType for CameraInfo<'_> {
    const TYPE_NAME: &'static str = "sensor_msgs/msg/CameraInfo";
}

impl<'a> CameraInfo<'a> {
    /// Builds a CameraInfo; `d` longer than [`MAX_DISTORTION`] is an error.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        header: Header<'a>,
        width: u32,
        height: u32,
        distortion_model: &'a str,
        d: &[f64],
        k: [f64; 9],
        r: [f64; 9],
        p: [f64; 12],
    ) -> Result<Self, DecodeError> {
        if d.len() > MAX_DISTORTION {
            return Err(DecodeError::inconsistent(
                "CameraInfo.d",
                format!("{} coefficients, at most {MAX_DISTORTION}", d.len()),
            ));
        }
        let mut coefficients = [0.0; MAX_DISTORTION];
        coefficients[..d.len()].copy_from_slice(d);
        Ok(CameraInfo {
            header,
            height,
            width,
            distortion_model,
            d: coefficients,
            d_len: d.len(),
            k,
            r,
            p,
            binning_x: 0,
            binning_y: 0,
            roi: RegionOfInterest::default(),
        })
    }

    /// Distortion coefficients.
    pub fn d(&self) -> &[f64] {
        &self.d[..self.d_len]
    }

    pub fn decode(message: &'a [u8]) -> Result<Self, DecodeError> {
        let mut r = CdrReader::new(message)?;
        let header = Header::decode(
            &mut r,
            "CameraInfo.header.stamp",
            "CameraInfo.header.frame_id",
        )?;
        let height = r.u32("CameraInfo.height")?;
        let width = r.u32("CameraInfo.width")?;
        let distortion_model = r.string("CameraInfo.distortion_model")?;
        let d_len = r.sequence_len(8, "CameraInfo.d")?;
        if d_len > MAX_DISTORTION {
            return Err(DecodeError::inconsistent(
                "CameraInfo.d",
                format!("{d_len} coefficients, at most {MAX_DISTORTION}"),
            ));
        }
        let mut d = [0.0; MAX_DISTORTION];
        for slot in &mut d[..d_len] {
            *slot = r.f64("CameraInfo.d")?;
        }
        let info = CameraInfo {
            header,
            height,
            width,
            distortion_model,
            d,
            d_len,
            k: r.f64_array("CameraInfo.k")?,
            r: r.f64_array("CameraInfo.r")?,
            p: r.f64_array("CameraInfo.p")?,
            binning_x: r.u32("CameraInfo.binning_x")?,
            binning_y: r.u32("CameraInfo.binning_y")?,
            roi: RegionOfInterest {
                x_offset: r.u32("CameraInfo.roi.x_offset")?,
                y_offset: r.u32("CameraInfo.roi.y_offset")?,
                height: r.u32("CameraInfo.roi.height")?,
                width: r.u32("CameraInfo.roi.width")?,
                do_rectify: r.bool("CameraInfo.roi.do_rectify")?,
            },
        };
        r.finish("CameraInfo")?;
        Ok(info)
    }
}

impl Encode for CameraInfo<'_> {
    fn encode_fields(&self, w: &mut CdrWriter) {
        self.header.encode(w);
        w.u32(self.height)
            .u32(self.width)
            .string(self.distortion_model)
            .sequence_len(self.d_len)
            .f64_slice(self.d())
            .f64_slice(&self.k)
            .f64_slice(&self.r)
            .f64_slice(&self.p)
            .u32(self.binning_x)
            .u32(self.binning_y)
            .u32(self.roi.x_offset)
            .u32(self.roi.y_offset)
            .u32(self.roi.height)
            .u32(self.roi.width)
            .bool(self.roi.do_rectify);
    }
}

/// `sensor_msgs/PointField` datatypes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PointFieldType {
    I8 = 1,
    U8 = 2,
    I16 = 3,
    U16 = 4,
    I32 = 5,
    U32 = 6,
    F32 = 7,
    F64 = 8,
}

impl PointFieldType {
    pub fn from_code(code: u8) -> Option<Self> {
        Some(match code {
            1 => PointFieldType::I8,
            2 => PointFieldType::U8,
            3 => PointFieldType::I16,
            4 => PointFieldType::U16,
            5 => PointFieldType::I32,
            6 => PointFieldType::U32,
            7 => PointFieldType::F32,
            8 => PointFieldType::F64,
            _ => return None,
        })
    }

    pub fn size(self) -> usize {
        match self {
            PointFieldType::I8 | PointFieldType::U8 => 1,
            PointFieldType::I16 | PointFieldType::U16 => 2,
            PointFieldType::I32 | PointFieldType::U32 | PointFieldType::F32 => 4,
            PointFieldType::F64 => 8,
        }
    }

    pub fn is_integer(self) -> bool {
        !matches!(self, PointFieldType::F32 | PointFieldType::F64)
    }
}

/// `sensor_msgs/PointField`, with its datatype already validated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PointField<'a> {
    pub name: &'a str,
    pub offset: u32,
    pub datatype: PointFieldType,
    pub count: u32,
}

const UNUSED_FIELD: PointField<'static> = PointField {
    name: "",
    offset: 0,
    datatype: PointFieldType::U8,
    count: 0,
};

/// `sensor_msgs/PointCloud2`; `data` borrows the input buffer. Decoding checks
/// every size relation, so readers of `data` can index without bounds surprises.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PointCloud2<'a> {
    pub header: Header<'a>,
    pub height: u32,
    pub width: u32,
    fields: [PointField<'a>; MAX_POINT_FIELDS],
    field_count: usize,
    pub is_bigendian: bool,
    pub point_step: u32,
    pub row_step: u32,
    pub data: &'a [u8],
    pub is_dense: bool,
}

impl MessageType for PointCloud2<'_> {
    const TYPE_NAME: &'static str = "sensor_msgs/msg/PointCloud2";
}

impl<'a> PointCloud2<'a> {
    /// Builds a cloud and checks it exactly as `decode` would.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        header: Header<'a>,
        height: u32,
        width: u32,
        fields: &[PointField<'a>],
        is_bigendian: bool,
        point_step: u32,
        row_step: u32,
        data: &'a [u8],
        is_dense: bool,
    ) -> Result<Self, DecodeError> {
        if fields.len() > MAX_POINT_FIELDS {
            return Err(too_many_fields(fields.len()));
        }
        let mut stored = [UNUSED_FIELD; MAX_POINT_FIELDS];
        stored[..fields.len()].copy_from_slice(fields);
        let cloud = PointCloud2 {
            header,
            height,
            width,
            fields: stored,
            field_count: fields.len(),
            is_bigendian,
            point_step,
            row_step,
            data,
            is_dense,
        };
        cloud.validate()?;
        Ok(cloud)
    }

    pub fn fields(&self) -> &[PointField<'a>] {
        &self.fields[..self.field_count]
    }

    pub fn field(&self, name: &str) -> Option<&PointField<'a>> {
        self.fields().iter().find(|f| f.name == name)
    }

    /// Number of points (`width * height`).
    pub fn len(&self) -> usize {
        self.width as usize * self.height as usize
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The bytes of point `index` (row-major; rows may be padded).
    pub fn point_bytes(&self, index: usize) -> &'a [u8] {
        let row = index / self.width as usize;
        let col = index % self.width as usize;
        let start = row * self.row_step as usize + col * self.point_step as usize;
        &self.data[start..start + self.point_step as usize]
    }

    pub fn decode(message: &'a [u8]) -> Result<Self, DecodeError> {
        let mut r = CdrReader::new(message)?;
        let header = Header::decode(
            &mut r,
            "PointCloud2.header.stamp",
            "PointCloud2.header.frame_id",
        )?;
        let height = r.u32("PointCloud2.height")?;
        let width = r.u32("PointCloud2.width")?;
        // Each PointField is at least 4 + 1 + 4 + 1 + 4 bytes on the wire.
        let field_count = r.sequence_len(13, "PointCloud2.fields")?;
        if field_count > MAX_POINT_FIELDS {
            return Err(too_many_fields(field_count));
        }
        let mut fields = [UNUSED_FIELD; MAX_POINT_FIELDS];
        for slot in &mut fields[..field_count] {
            let name = r.string("PointCloud2.fields.name")?;
            let offset = r.u32("PointCloud2.fields.offset")?;
            let code = r.u8("PointCloud2.fields.datatype")?;
            let count = r.u32("PointCloud2.fields.count")?;
            let datatype =
                PointFieldType::from_code(code).ok_or_else(|| DecodeError::Unsupported {
                    field: "PointCloud2.fields.datatype",
                    what: "datatype",
                    found: format!("{code} (field {name:?})"),
                    supported: "1..=8 (INT8..FLOAT64)",
                })?;
            *slot = PointField {
                name,
                offset,
                datatype,
                count,
            };
        }
        let cloud = PointCloud2 {
            header,
            height,
            width,
            fields,
            field_count,
            is_bigendian: r.bool("PointCloud2.is_bigendian")?,
            point_step: r.u32("PointCloud2.point_step")?,
            row_step: r.u32("PointCloud2.row_step")?,
            data: r.byte_sequence("PointCloud2.data")?,
            is_dense: r.bool("PointCloud2.is_dense")?,
        };
        r.finish("PointCloud2")?;
        cloud.validate()?;
        Ok(cloud)
    }

    fn validate(&self) -> Result<(), DecodeError> {
        for field in self.fields() {
            let end = field.offset as u64 + field.datatype.size() as u64 * field.count as u64;
            if end > self.point_step as u64 {
                return Err(DecodeError::inconsistent(
                    "PointCloud2.point_step",
                    format!(
                        "field {:?} ends at byte {end}, beyond point_step {}",
                        field.name, self.point_step
                    ),
                ));
            }
        }
        let min_row = self.width as u64 * self.point_step as u64;
        if (self.row_step as u64) < min_row {
            return Err(DecodeError::inconsistent(
                "PointCloud2.row_step",
                format!(
                    "row_step {} < width {} x point_step {}",
                    self.row_step, self.width, self.point_step
                ),
            ));
        }
        let expected = self.height as u64 * self.row_step as u64;
        if self.data.len() as u64 != expected {
            return Err(DecodeError::inconsistent(
                "PointCloud2.data",
                format!(
                    "{} bytes, but height {} x row_step {} = {expected}",
                    self.data.len(),
                    self.height,
                    self.row_step
                ),
            ));
        }
        Ok(())
    }
}

fn too_many_fields(count: usize) -> DecodeError {
    DecodeError::inconsistent(
        "PointCloud2.fields",
        format!("{count} fields, at most {MAX_POINT_FIELDS}"),
    )
}

impl Encode for PointCloud2<'_> {
    fn encode_fields(&self, w: &mut CdrWriter) {
        self.header.encode(w);
        w.u32(self.height)
            .u32(self.width)
            .sequence_len(self.field_count);
        for field in self.fields() {
            w.string(field.name)
                .u32(field.offset)
                .u8(field.datatype as u8)
                .u32(field.count);
        }
        w.bool(self.is_bigendian)
            .u32(self.point_step)
            .u32(self.row_step)
            .bytes(self.data)
            .bool(self.is_dense);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::msg::Time;

    fn header() -> Header<'static> {
        Header {
            stamp: Time {
                sec: 12,
                nanosec: 345,
            },
            frame_id: "camera",
        }
    }

    #[test]
    fn image_round_trip_and_size_check() {
        let pixels = vec![7u8; 4 * 3 * 2];
        let image = Image {
            header: header(),
            height: 2,
            width: 4,
            encoding: "rgb8",
            is_bigendian: 0,
            step: 12,
            data: &pixels,
        };
        let bytes = image.to_cdr();
        assert_eq!(Image::decode(&bytes).unwrap(), image);
        let short = Image {
            data: &pixels[..20],
            ..image
        };
        let err = Image::decode(&short.to_cdr()).unwrap_err();
        assert_eq!(err.field(), "Image.data");
    }

    #[test]
    fn camera_info_round_trip() {
        let info = CameraInfo::new(
            header(),
            640,
            480,
            "plumb_bob",
            &[0.1, -0.2, 0.0, 0.0, 0.01],
            [500.0, 0.0, 320.0, 0.0, 500.0, 240.0, 0.0, 0.0, 1.0],
            [1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0],
            [
                500.0, 0.0, 320.0, 0.0, 0.0, 500.0, 240.0, 0.0, 0.0, 0.0, 1.0, 0.0,
            ],
        )
        .unwrap();
        let bytes = info.to_cdr();
        let decoded = CameraInfo::decode(&bytes).unwrap();
        assert_eq!(decoded, info);
        assert_eq!(decoded.d().len(), 5);
    }

    #[test]
    fn point_cloud_rejects_field_past_point_step() {
        let fields = [PointField {
            name: "x",
            offset: 2,
            datatype: PointFieldType::F32,
            count: 1,
        }];
        let err =
            PointCloud2::new(header(), 1, 1, &fields, false, 4, 4, &[0; 4], true).unwrap_err();
        assert_eq!(err.field(), "PointCloud2.point_step");
    }
}
