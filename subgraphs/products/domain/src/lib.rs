//! The Products context's domain: the catalog's Product aggregate with its variants,
//! lifecycle, versioned price and tax category, flash sales (timed price overrides) and
//! the tax rates of the places the shop sells to. Plain Rust; the service crate
//! persists it and serves it over GraphQL.

pub mod error;
pub mod event;
pub mod flash_sale;
pub mod price;
pub mod product;
pub mod tax;
pub mod values;

pub use error::ProductError;
pub use event::ProductEvent;
pub use flash_sale::{FlashSale, FlashSaleId, FlashSaleStatus};
pub use price::PricePeriod;
pub use product::{NewProduct, Product, ProductState, ProductStatus, ProductUpdate};
pub use tax::{RatesAtPlace, Region, TaxRateEntry};
pub use values::{Attribute, Category, Description, NewVariant, ProductName, Sku, Variant};

kernel::typed_id!(ProductId, "product");
