/** Bad input to the image builder (hostile or malformed archive, unusable source): a user-facing error. */
export class ImageError extends Error {
  override readonly name = 'ImageError';
}
