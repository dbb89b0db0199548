// unbzip2-stream ships no types: a function that returns a bzip2-decoding duplex stream.
declare module 'unbzip2-stream' {
  const unbzip2: () => NodeJS.ReadWriteStream;
  export default unbzip2;
}
