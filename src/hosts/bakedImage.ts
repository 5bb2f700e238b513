/**
 * The name every image `finetune image bake` makes starts with, and its family: how a boot image
 * is known as baked (src/hosts/bake.ts makes them; the plan gives their hosts a shorter boot).
 */
export const BAKED_IMAGE_FAMILY = 'durable-finetune-trainer';

/** Whether host.image names an image a bake made, or the family that points at the newest one. */
export function isBakedImage(image: string): boolean {
  return new RegExp(`/global/images/(family/)?${BAKED_IMAGE_FAMILY}($|-)`).test(image);
}
