//! README command 1.

pub async fn main(_args: &[String]) -> Result<(), Box<dyn std::error::Error>> {
    Err("the demo is not written yet".into())
}
