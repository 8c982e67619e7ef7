// Rust names of every shape the demangler must print: generic functions and impls, trait
// impls, closures, const generics (integer, bool, char), arrays, slices, tuples, references,
// raw pointers, fn pointers, dyn traits with associated types, unsafe/extern functions.
// Built by the tests with Debian's rustc, once with legacy mangling and once with v0.
use std::fmt;

pub trait Shape { fn area(&self) -> u64; }
pub struct Square<const N: usize>;
impl<const N: usize> Shape for Square<N> { #[inline(never)] fn area(&self) -> u64 { (N * N) as u64 } }
pub struct Flag<const B: bool, const C: char>;
impl<const B: bool, const C: char> Flag<B, C> { #[inline(never)] pub fn get(&self) -> (bool, char) { (B, C) } }

pub mod nested {
    pub mod deeper {
        #[inline(never)]
        pub fn walk<T: Copy + Into<u64>>(items: &[T], scale: &mut u64) -> u64 {
            let mut sum = 0u64;
            for &i in items { sum += i.into() * *scale; }
            *scale += 1;
            sum
        }
        #[inline(never)]
        pub fn arrays(a: [u8; 4], t: (u16, i32, (bool,)), p: *const u8, q: *mut i64) -> usize {
            a.len() + t.0 as usize + (t.1 as usize) + (t.2).0 as usize + p as usize + q as usize
        }
    }
}

#[inline(never)]
pub fn apply(f: fn(u64) -> u64, g: &dyn Fn(u64) -> u64, it: &mut dyn Iterator<Item = u8>) -> u64 {
    f(1) + g(2) + it.next().unwrap_or(0) as u64
}

#[inline(never)]
pub unsafe extern "C" fn exported_c(x: i64) -> i64 { x * 3 }

pub struct Wrapper<T>(pub T);
impl<T: fmt::Debug> fmt::Display for Wrapper<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result { write!(f, "{:?}", self.0) }
}

#[inline(never)]
fn double(x: u64) -> u64 { x * 2 }

fn main() {
    let mut scale = 1u64;
    let total = nested::deeper::walk(&[1u8, 2, 3], &mut scale) + nested::deeper::walk(&[7u32], &mut scale);
    let sq = Square::<3>;
    let shapes: Vec<Box<dyn Shape>> = vec![Box::new(sq), Box::new(Square::<5>)];
    let area: u64 = shapes.iter().map(|s| s.area()).sum();
    let flag = Flag::<true, 'x'>.get();
    let offset = 10u64;
    let closure = move |x: u64| x + offset;
    let mut bytes = vec![4u8, 5].into_iter();
    let applied = apply(double, &closure, &mut bytes);
    let mut v = 5i64;
    let n = nested::deeper::arrays([1, 2, 3, 4], (1, -2, (true,)), std::ptr::null(), &mut v as *mut i64);
    let c = unsafe { exported_c(total as i64) };
    println!("{} {} {:?} {} {} {} {}", total, area, flag, applied, n, c, Wrapper(vec![1, 2]));
}
