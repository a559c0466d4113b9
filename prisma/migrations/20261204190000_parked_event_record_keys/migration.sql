-- AlterTable
ALTER TABLE "ParkedEvent" ADD COLUMN     "recordKeys" TEXT[];
