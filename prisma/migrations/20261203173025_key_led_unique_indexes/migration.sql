-- The unique keys of the read model lead with the key, not the tenant: the ingest probes a row by
-- key and tenant (src/ingest/store.ts probeSql), an index no plan can trade for another
-- tenantId-led one (one did, before the first ANALYZE of the tables, reading all rows of the tenant).
-- One transaction (src/db/migrate.ts), so no moment without the constraints. The tables of the read
-- model are locked while their indexes are rebuilt: 0.23 s for the bench dataset (2,000 students,
-- 358,000 rows), a large database wants a quiet moment.
-- (No semicolon or quote in these comments: the schema engine splits the file on them.)

-- DropIndex
DROP INDEX "Class_tenantId_moodleCourseId_key";

-- DropIndex
DROP INDEX "Class_tenantId_zohoId_key";

-- DropIndex
DROP INDEX "Enrollment_tenantId_moodleEnrollmentId_key";

-- DropIndex
DROP INDEX "Enrollment_tenantId_zohoId_key";

-- DropIndex
DROP INDEX "Grade_tenantId_compositeKey_key";

-- DropIndex
DROP INDEX "Grade_tenantId_zohoId_key";

-- DropIndex
DROP INDEX "Payment_tenantId_zohoId_key";

-- DropIndex
DROP INDEX "Program_tenantId_zohoId_key";

-- DropIndex
DROP INDEX "Registration_tenantId_zohoId_key";

-- DropIndex
DROP INDEX "Student_tenantId_moodleUserId_key";

-- DropIndex
DROP INDEX "Student_tenantId_zohoId_key";

-- DropIndex
DROP INDEX "StudentRequest_tenantId_zohoId_key";

-- DropIndex
DROP INDEX "Teacher_tenantId_moodleUserId_key";

-- DropIndex
DROP INDEX "Teacher_tenantId_zohoId_key";

-- DropIndex
DROP INDEX "Unit_tenantId_zohoId_key";

-- CreateIndex
CREATE UNIQUE INDEX "Class_zohoId_tenantId_key" ON "Class"("zohoId", "tenantId");

-- CreateIndex
CREATE UNIQUE INDEX "Class_moodleCourseId_tenantId_key" ON "Class"("moodleCourseId", "tenantId");

-- CreateIndex
CREATE UNIQUE INDEX "Enrollment_zohoId_tenantId_key" ON "Enrollment"("zohoId", "tenantId");

-- CreateIndex
CREATE UNIQUE INDEX "Enrollment_moodleEnrollmentId_tenantId_key" ON "Enrollment"("moodleEnrollmentId", "tenantId");

-- CreateIndex
CREATE UNIQUE INDEX "Grade_compositeKey_tenantId_key" ON "Grade"("compositeKey", "tenantId");

-- CreateIndex
CREATE UNIQUE INDEX "Grade_zohoId_tenantId_key" ON "Grade"("zohoId", "tenantId");

-- CreateIndex
CREATE UNIQUE INDEX "Payment_zohoId_tenantId_key" ON "Payment"("zohoId", "tenantId");

-- CreateIndex
CREATE UNIQUE INDEX "Program_zohoId_tenantId_key" ON "Program"("zohoId", "tenantId");

-- CreateIndex
CREATE UNIQUE INDEX "Registration_zohoId_tenantId_key" ON "Registration"("zohoId", "tenantId");

-- CreateIndex
CREATE UNIQUE INDEX "Student_zohoId_tenantId_key" ON "Student"("zohoId", "tenantId");

-- CreateIndex
CREATE UNIQUE INDEX "Student_moodleUserId_tenantId_key" ON "Student"("moodleUserId", "tenantId");

-- CreateIndex
CREATE UNIQUE INDEX "StudentRequest_zohoId_tenantId_key" ON "StudentRequest"("zohoId", "tenantId");

-- CreateIndex
CREATE UNIQUE INDEX "Teacher_zohoId_tenantId_key" ON "Teacher"("zohoId", "tenantId");

-- CreateIndex
CREATE UNIQUE INDEX "Teacher_moodleUserId_tenantId_key" ON "Teacher"("moodleUserId", "tenantId");

-- CreateIndex
CREATE UNIQUE INDEX "Unit_zohoId_tenantId_key" ON "Unit"("zohoId", "tenantId");
